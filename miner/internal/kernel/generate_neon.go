package kernel

//go:generate go run gen_asm_neon.go
