package profile

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBuiltinValid(t *testing.T) {
	for name, p := range Builtin() {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	a, b := Builtin()["phone-mid"], Builtin()["phone-mid"]
	a.Networks[0].RTT = 0
	if b.Networks[0].RTT == 0 {
		t.Fatal("Builtin shares network slices between calls")
	}
}

func TestRoundTripAndStrictRead(t *testing.T) {
	p := Builtin()["phone-low"]
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"latency_p95":"20ms"`) {
		t.Fatalf("durations not written as strings: %s", buf.String())
	}
	q, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if q.Latency != p.Latency || q.Networks[0].Tail != p.Networks[0].Tail || q.Energy != p.Energy {
		t.Fatalf("round trip changed the profile: %+v vs %+v", q, p)
	}
	if _, err := Read(strings.NewReader(`{"name":"x","cores":1,"arena_bytes":1,"latency_p95":"1ms","storage_bytes":1,"speed_factor":1,"arena_bytse":5}`)); err == nil {
		t.Fatal("a misspelt field was accepted")
	}
	if _, err := Read(strings.NewReader(`{"name":"x","cores":0,"arena_bytes":1,"latency_p95":"1ms","storage_bytes":1,"speed_factor":1}`)); err == nil {
		t.Fatal("zero cores accepted")
	}
	if _, err := Load("no-such-profile"); err == nil || !strings.Contains(err.Error(), "phone-mid") {
		t.Fatalf("Load of an unknown name: %v (want the built-in names listed)", err)
	}
}

func TestEnergyModel(t *testing.T) {
	p := Builtin()["phone-high"]
	// 100 µs of one core at 1.5 W plus 1 MB of weights at 160 pJ/B.
	got := p.InferenceEnergy(100*time.Microsecond, 1<<20)
	want := 1.5*100e-6 + 160e-12*float64(1<<20)
	if math.Abs(got-want) > 1e-15 {
		t.Fatalf("InferenceEnergy = %g, want %g", got, want)
	}
	lte, _ := p.Network("lte")
	// 1 kB up, 1 kB down at 5/20 Mbps plus 60 ms RTT.
	tt := lte.TransferTime(1000, 1000)
	wantT := 60*time.Millisecond + time.Duration(8000.0/5e6*1e9) + time.Duration(8000.0/20e6*1e9)
	if tt != wantT {
		t.Fatalf("TransferTime = %v, want %v", tt, wantT)
	}
	e := lte.RadioEnergy(1000, 1000)
	// The LTE tail alone is 1.06 W × 11.6 s ≈ 12.3 J: a server call costs
	// far more than a small on-device inference, which is the router's point.
	if e < 12.2 || e > 12.5 {
		t.Fatalf("LTE call energy %g J, want ≈ 12.3 J (tail dominated)", e)
	}
	wifi, _ := p.Network("wifi")
	if we := wifi.RadioEnergy(1000, 1000); we >= e/10 {
		t.Fatalf("WiFi call %g J not far below LTE %g J", we, e)
	}
}
