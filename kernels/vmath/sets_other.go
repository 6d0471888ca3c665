//go:build purego || !amd64

package vmath

// native is empty: only the pure-Go set exists.
var native []setID

func supported(setID) bool { return false }

func (ks Kernels) exp(d, s []float32)     { expGo(d, s) }
func (ks Kernels) sigmoid(d, s []float32) { sigmoidGo(d, s) }
func (ks Kernels) tanh(d, s []float32)    { tanhGo(d, s) }
func (ks Kernels) erf(d, s []float32)     { erfGo(d, s) }
func (ks Kernels) gelu(d, s []float32)    { geluGo(d, s) }

func (ks Kernels) expSum(d, s []float32, shift float32) float32 { return expSumGo(d, s, shift) }
