//go:build amd64 && !purego

package x25519batch

import (
	"testing"
	"unsafe"
)

// TestStateLayout: the offsets batch_amd64.s hard-codes.
func TestStateLayout(t *testing.T) {
	var s ladderState
	got := []uintptr{
		unsafe.Offsetof(s.x1), unsafe.Offsetof(s.x2), unsafe.Offsetof(s.z2),
		unsafe.Offsetof(s.x3), unsafe.Offsetof(s.z3), unsafe.Offsetof(s.a),
		unsafe.Offsetof(s.b), unsafe.Offsetof(s.c), unsafe.Offsetof(s.d),
		unsafe.Offsetof(s.aa), unsafe.Offsetof(s.bb), unsafe.Offsetof(s.e),
		unsafe.Offsetof(s.da), unsafe.Offsetof(s.cb), unsafe.Offsetof(s.tt),
		unsafe.Offsetof(s.masks),
	}
	for i, off := range got {
		if off != uintptr(320*i) {
			t.Errorf("field %d at %d, want %d", i, off, 320*i)
		}
	}
}
