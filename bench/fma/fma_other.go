//go:build !amd64

package fma

func available() []loop { return nil }
