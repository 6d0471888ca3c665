package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"testing"
)

func runPrivacy(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append([]string{"privacy"}, args...), &out, &errb); err != nil {
		t.Fatalf("%v: %v (%s)", args, err, errb.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%v: %v in %q", args, err, out.String())
	}
	return v
}

func TestPrivacyEpsilonCLI(t *testing.T) {
	v := runPrivacy(t, "epsilon", "--q", "0.01", "--sigma", "4", "--steps", "10000", "--delta", "1e-5", "--conversion", "classic", "--json")
	if eps := v["epsilon"].(float64); math.Abs(eps-1.26) > 0.01 {
		t.Fatalf("classic ε = %v, Abadi et al. 1.26", eps)
	}
	if _, ok := v["order"]; !ok {
		t.Fatal("no order for RDP")
	}
	v = runPrivacy(t, "epsilon", "--q", "0.04", "--sigma", "1.5", "--steps", "2250", "--delta", "1e-5", "--orders", "2,3,4,5,6,7,8,9,10,12,16,20,32,64", "--json")
	if eps := v["epsilon"].(float64); !(eps > 7 && eps < 7.6) {
		t.Fatalf("ε = %v", eps)
	}
	v = runPrivacy(t, "epsilon", "--q", "0.01", "--sigma", "2", "--steps", "100", "--delta", "1e-5", "--accountant", "pld", "--json")
	if _, ok := v["order"]; ok {
		t.Fatal("order reported for PLD")
	}
}

func TestPrivacyNoiseCLI(t *testing.T) {
	v := runPrivacy(t, "noise", "--epsilon", "8", "--delta", "1e-5", "--q", "0.04", "--steps", "2250", "--json")
	s := v["noise_multiplier"].(float64)
	// Opacus' get_noise_multiplier gives 1.425307617 with its orders and
	// 0.01 tolerance on ε; ours is the exact bisection on more orders.
	if !(s > 1.38 && s < 1.4254) {
		t.Fatalf("σ = %v", s)
	}
	back := runPrivacy(t, "epsilon", "--q", "0.04", "--sigma", fmtFloat(s), "--steps", "2250", "--delta", "1e-5", "--json")
	if eps := back["epsilon"].(float64); eps > 8 || eps < 7.999 {
		t.Fatalf("ε(σ) = %v", eps)
	}
}

func fmtFloat(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestPrivacyLDPSimulateCLI(t *testing.T) {
	args := []string{"ldp-simulate", "--mechanism", "cms", "--epsilon", "4", "--m", "256", "--k", "4", "--n", "2000", "--items", "4", "--zipf", "1", "--trials", "5", "--seed", "9", "--json"}
	a := runPrivacy(t, args...)
	b := runPrivacy(t, args...)
	if a["hash"] != b["hash"] || a["hash"] == "" {
		t.Fatalf("hash %v vs %v", a["hash"], b["hash"])
	}
	items := a["items"].([]any)
	if len(items) != 4 {
		t.Fatalf("%d items", len(items))
	}
	first := items[0].(map[string]any)
	for _, k := range []string{"item", "true_count", "mean_estimate", "variance"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("item lacks %q: %v", k, first)
		}
	}
}
