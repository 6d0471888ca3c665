//go:build !amd64 || purego

package secagg

// maskFast has no vector kernel on this platform: it masks nothing.
func maskFast(dst []uint32, seed *[SecretSize]byte, neg bool) int { return 0 }
