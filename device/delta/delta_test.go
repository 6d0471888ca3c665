package delta

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
)

// pair returns a base of n random bytes and a next version with about
// frac of it rewritten in 4 KiB runs, as a fine-tune of some layers does.
func pair(n int, frac float64, seed uint64) (base, next []byte) {
	r := rand.New(rand.NewPCG(seed, 1))
	base = make([]byte, n)
	for i := range base {
		base[i] = byte(r.Uint32())
	}
	next = bytes.Clone(base)
	for i := 0; i < int(frac*float64(n))/4096; i++ {
		off := r.IntN(n - 4096)
		for j := range 4096 {
			next[off+j] = byte(r.Uint32())
		}
	}
	return base, next
}

func TestRoundTripSmallerThanFull(t *testing.T) {
	base, next := pair(8<<20, 0.05, 1)
	sum := sha256.Sum256(base)
	var buf bytes.Buffer
	if err := Encode(&buf, base, sum, next); err != nil {
		t.Fatal(err)
	}
	t.Logf("8 MiB bundle, 5%% rewritten: delta %d bytes (%.1f%% of full)", buf.Len(), 100*float64(buf.Len())/float64(len(next)))
	if buf.Len() > len(next)/8 {
		t.Errorf("delta is %d bytes, want well under the %d-byte bundle", buf.Len(), len(next))
	}
	d, err := NewDecoder(bytes.NewReader(buf.Bytes()), base, sum, int64(len(next)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, next) {
		t.Fatal("decoded delta differs from the new bundle")
	}
}

func TestWrongBaseFails(t *testing.T) {
	base, next := pair(1<<20, 0.1, 2)
	sum := sha256.Sum256(base)
	var buf bytes.Buffer
	if err := Encode(&buf, base, sum, next); err != nil {
		t.Fatal(err)
	}
	other, _ := pair(1<<20, 0, 3)
	osum := sha256.Sum256(other)
	d, err := NewDecoder(bytes.NewReader(buf.Bytes()), other, osum, int64(len(next)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := io.ReadAll(d); err == nil {
		t.Fatal("a delta decoded against the wrong base without error")
	}
}

func TestEndlessOutputStops(t *testing.T) {
	base, next := pair(1<<20, 0.1, 4)
	sum := sha256.Sum256(base)
	var buf bytes.Buffer
	if err := Encode(&buf, base, sum, next); err != nil {
		t.Fatal(err)
	}
	d, err := NewDecoder(bytes.NewReader(buf.Bytes()), base, sum, int64(len(next))-10)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n, err := io.Copy(io.Discard, d)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v after %d bytes, want ErrTooLarge", err, n)
	}
	if n > int64(len(next))-9 {
		t.Errorf("decoder yielded %d bytes past a limit of %d", n, len(next)-10)
	}
}

func TestDecoderMemory(t *testing.T) {
	base, next := pair(8<<20, 0.05, 5)
	sum := sha256.Sum256(base)
	var buf bytes.Buffer
	if err := Encode(&buf, base, sum, next); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d, err := NewDecoder(bytes.NewReader(buf.Bytes()), base, sum, int64(len(next)))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, d, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	d.Close()
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("decoding an 8 MiB delta allocated %.1f MiB", float64(alloc)/(1<<20))
	if alloc > 5*uint64(len(next))/2 {
		t.Errorf("decoder allocated %d bytes for an %d-byte output", alloc, len(next))
	}
}
