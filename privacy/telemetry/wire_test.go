package telemetry

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func wireSeeds() [][]byte {
	r := rand.New(rand.NewPCG(1, 1))
	places, routes := placesSchema(), routesSchema()
	item, _ := places.Item(map[string]any{"category": "cafe", "hour": 9})
	a := privatize(&places, item, r)
	item, _ = routes.Item(map[string]any{"mode": "walk", "rerouted": true})
	b := privatize(&routes, item, r)
	odd := Report{Stream: "s", Mechanism: CMS, Row: 3, NBits: 13, Bits: []byte{0xff, 0x1f}}
	return [][]byte{
		AppendReport(nil, &a),
		AppendReport(nil, &b),
		AppendReport(nil, &Report{Stream: "app_version", Mechanism: None, Item: []byte("1.4.2")}),
		AppendReport(nil, &odd),
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, b := range wireSeeds() {
		rep, err := ParseReport(b, DefaultLimits)
		if err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		if again := AppendReport(nil, &rep); !bytes.Equal(again, b) {
			t.Fatalf("round trip %x → %x", b, again)
		}
	}
}

// TestParseRejectsHostileInput: each input is a valid report altered the way
// a hostile or broken sender would.
func TestParseRejectsHostileInput(t *testing.T) {
	seed := wireSeeds()
	cms := seed[0]
	huge := AppendReport(nil, &Report{Stream: "s", Mechanism: CMS, NBits: MaxSketchBits + 8, Bits: make([]byte, (MaxSketchBits+8)/8)})
	cases := map[string][]byte{
		"empty":                 {},
		"wrong version":         append([]byte{2}, cms[1:]...),
		"unknown mechanism":     append([]byte{1, 9}, cms[2:]...),
		"truncated":             cms[:len(cms)-1],
		"trailing byte":         append(bytes.Clone(cms), 0),
		"oversized bit vector":  huge,
		"padding bits set":      AppendReport(nil, &Report{Stream: "s", Mechanism: CMS, NBits: 13, Bits: []byte{0, 0x20}}),
		"non-minimal varint":    {1, 0, 0x81, 0x00, 's', 1, 'x'},
		"stream name too long":  AppendReport(nil, &Report{Stream: string(bytes.Repeat([]byte{'a'}, MaxNameLen+1)), Mechanism: None}),
		"stream name not ascii": AppendReport(nil, &Report{Stream: "caf\xc3\xa9", Mechanism: None}),
		"hcms bit byte 2":       append(bytes.Clone(seed[1][:len(seed[1])-1]), 2),
		"row out of range":      AppendReport(nil, &Report{Stream: "s", Mechanism: HCMS, Row: MaxSketchRows, Bit: 1}),
		"item length overflow":  {1, 0, 1, 's', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, b := range cases {
		if _, err := ParseReport(b, DefaultLimits); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %x: err %v, want ErrMalformed", name, b, err)
		}
	}
}

func TestAppendReportDoesNotAllocateWithCapacity(t *testing.T) {
	rep, _ := ParseReport(wireSeeds()[0], DefaultLimits)
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendReport(buf[:0], &rep) }); n != 0 {
		t.Fatalf("%v allocations per AppendReport", n)
	}
}

// FuzzParseReport: Parse never panics, and whatever it accepts re-encodes to
// the same bytes and passes or fails a schema check without panicking.
func FuzzParseReport(f *testing.F) {
	for _, b := range wireSeeds() {
		f.Add(b)
	}
	places := placesSchema()
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := ParseReport(b, DefaultLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if again := AppendReport(nil, &rep); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x re-encodes as %x", b, again)
		}
		if err := places.Check(&rep); err == nil {
			if rep.Row >= places.K || len(rep.Bits)*8 < places.M {
				t.Fatalf("schema check passed a report outside the sketch: %+v", rep)
			}
		}
	})
}

func BenchmarkParseAppendReport(b *testing.B) {
	in := wireSeeds()[0]
	buf := make([]byte, 0, 256)
	for b.Loop() {
		rep, err := ParseReport(in, DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		buf = AppendReport(buf[:0], &rep)
	}
}
