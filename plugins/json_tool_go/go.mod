module json-tool

go 1.24
