module conformance-go

go 1.24
