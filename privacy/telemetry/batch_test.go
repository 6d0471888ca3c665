package telemetry

import (
	"bytes"
	"errors"
	"testing"
)

// TestBatchRoundTripAndBounds: items come back in order; too many items,
// an oversize length, a non-minimal length and a truncated item are
// refused.
func TestBatchRoundTripAndBounds(t *testing.T) {
	reps := [][]byte{
		AppendReport(nil, &Report{Stream: "a", Mechanism: None, Item: []byte("x")}),
		AppendReport(nil, &Report{Stream: "b", Mechanism: HCMS, Row: 3, Col: 7, Bit: 1}),
		{},
	}
	var batch []byte
	for _, r := range reps {
		batch = AppendBatchItem(batch, r)
	}
	var got [][]byte
	if err := SplitBatch(batch, 3, 100, func(b []byte) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[0], reps[0]) || !bytes.Equal(got[1], reps[1]) || len(got[2]) != 0 {
		t.Fatalf("got %q", got)
	}
	nop := func([]byte) error { return nil }
	var tooMany *BatchTooLargeError
	if err := SplitBatch(batch, 2, 100, nop); !errors.As(err, &tooMany) {
		t.Errorf("3 items, bound 2: %v", err)
	}
	if err := SplitBatch(batch, 3, 4, nop); !errors.Is(err, ErrMalformed) {
		t.Errorf("item over its bound: %v", err)
	}
	if err := SplitBatch([]byte{0x81, 0x00}, 3, 100, nop); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-minimal length: %v", err)
	}
	if err := SplitBatch(batch[:len(batch)-3], 3, 100, nop); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated batch: %v", err)
	}
	stop := errors.New("stop")
	if err := SplitBatch(batch, 3, 100, func([]byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error not returned: %v", err)
	}
}

// TestRegistryNames lists declared streams sorted.
func TestRegistryNames(t *testing.T) {
	reg, err := NewRegistry(
		Schema{Name: "zeta", Fields: []Field{{Name: "f", Type: Bool}}, Mechanism: None, Retention: 1},
		Schema{Name: "alpha", Fields: []Field{{Name: "f", Type: Bool}}, Mechanism: None, Retention: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	if n := reg.Names(); len(n) != 2 || n[0] != "alpha" || n[1] != "zeta" {
		t.Fatalf("names %v", n)
	}
}
