//go:build purego || !(amd64 || arm64)

package gemm8

// native is empty: only the pure-Go set exists on this build.
var native []nativeSet
