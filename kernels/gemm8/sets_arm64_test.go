//go:build !purego

package gemm8

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestSetsARM64 makes sure the suite runs both arm64 sets: the plain NEON
// one always, SDOT where the CPU (or qemu's default "max" CPU) has the
// dot-product extension. In CI (qemu) a missing SDOT set fails: the suite
// would silently skip its kernels.
func TestSetsARM64(t *testing.T) {
	var names []string
	for _, ks := range Available() {
		names = append(names, ks.Name())
	}
	if !slices.Contains(names, "neon") {
		t.Fatalf("Available() = %v, no neon set", names)
	}
	if slices.Contains(names, "sdot") != cpu.ARM64.HasASIMDDP {
		t.Fatalf("Available() = %v with ASIMDDP %v", names, cpu.ARM64.HasASIMDDP)
	}
	if !cpu.ARM64.HasASIMDDP {
		msg := "this CPU has no dot-product extension: the sdot set is untested"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if Best().Name() != "sdot" {
		t.Fatalf("Best() = %v, want sdot", Best())
	}
}
