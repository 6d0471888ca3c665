package fma

import "golang.org/x/sys/cpu"

// Implemented in fma_amd64.s. Each iteration issues twelve independent
// VFMADD231PS on YMM (8 lanes) or ZMM (16 lanes) registers.
//
//go:noescape
func fmaYMM(iters int)

//go:noescape
func fmaZMM(iters int)

func available() []loop {
	var ls []loop
	if cpu.X86.HasAVX && cpu.X86.HasFMA {
		ls = append(ls, loop{"ymm", 12 * 8 * 2, fmaYMM})
	}
	if cpu.X86.HasAVX512F {
		ls = append(ls, loop{"zmm", 12 * 16 * 2, fmaZMM})
	}
	return ls
}
