//go:build !amd64 || purego

package x25519batch

const hasIFMA = false

func scalarMult8(out, scalars, points *[Lanes][Size]byte) {
	panic("x25519batch: no vector ladder on this platform")
}
