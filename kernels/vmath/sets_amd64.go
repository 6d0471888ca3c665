//go:build !purego

package vmath

import "golang.org/x/sys/cpu"

// native lists the amd64 assembly sets, fastest first.
var native = []setID{setAVX512, setAVX2}

// supported reports whether the CPU runs set id. The AVX-512 set uses
// AVX512F and DQ (VANDPS/VORPS/VXORPS on ZMM) and BMI2 (BZHI for the tail
// mask); the AVX2 set uses FMA.
func supported(id setID) bool {
	x := &cpu.X86
	switch id {
	case setAVX512:
		return x.HasAVX512F && x.HasAVX512DQ && x.HasBMI2 && x.HasFMA
	case setAVX2:
		return x.HasAVX2 && x.HasFMA
	}
	return false
}

func (ks Kernels) exp(d, s []float32) {
	switch ks.id {
	case setAVX512:
		exp512(&d[0], &s[0], len(d))
	case setAVX2:
		exp256(&d[0], &s[0], len(d))
	default:
		expGo(d, s)
	}
}

func (ks Kernels) sigmoid(d, s []float32) {
	switch ks.id {
	case setAVX512:
		sigmoid512(&d[0], &s[0], len(d))
	case setAVX2:
		sigmoid256(&d[0], &s[0], len(d))
	default:
		sigmoidGo(d, s)
	}
}

func (ks Kernels) tanh(d, s []float32) {
	switch ks.id {
	case setAVX512:
		tanh512(&d[0], &s[0], len(d))
	case setAVX2:
		tanh256(&d[0], &s[0], len(d))
	default:
		tanhGo(d, s)
	}
}

func (ks Kernels) erf(d, s []float32) {
	switch ks.id {
	case setAVX512:
		erf512(&d[0], &s[0], len(d))
	case setAVX2:
		erf256(&d[0], &s[0], len(d))
	default:
		erfGo(d, s)
	}
}

func (ks Kernels) gelu(d, s []float32) {
	switch ks.id {
	case setAVX512:
		gelu512(&d[0], &s[0], len(d))
	case setAVX2:
		gelu256(&d[0], &s[0], len(d))
	default:
		geluGo(d, s)
	}
}

func (ks Kernels) expSum(d, s []float32, shift float32) float32 {
	switch ks.id {
	case setAVX512:
		return expsum512(&d[0], &s[0], len(d), shift)
	case setAVX2:
		return expsum256(&d[0], &s[0], len(d), shift)
	}
	return expSumGo(d, s, shift)
}
