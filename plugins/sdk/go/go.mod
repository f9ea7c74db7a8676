module wasmbay

go 1.24
