package checks

//go:generate go run ../../internal/genfindings -o findings_gen.go
