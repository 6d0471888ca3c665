package targeting_test

import (
	"encoding/json"
	"testing"

	"github.com/sextant-ml/sextant/delivery/targeting"
)

// FuzzRule: a rule arrives from the server and is evaluated on the device,
// so no input may make Validate or Match panic, and a valid rule survives
// a JSON round trip with the same verdicts.
func FuzzRule(f *testing.F) {
	f.Add([]byte(exampleRule), "android 14", "5.3.1", "de-CH")
	f.Add([]byte(`{"not":{"custom":{"key":"k","gte":"1.0.0-rc.1"}}}`), "ios", "1", "")
	f.Add([]byte(`{"any":[{"os":{"lt":"9"}},{"locale":["x"]}]}`), "", "v0.0", "X-y")
	f.Fuzz(func(t *testing.T, raw []byte, os, app, locale string) {
		var r targeting.Rule
		if json.Unmarshal(raw, &r) != nil || r.Validate() != nil {
			return
		}
		a := targeting.Attributes{Class: "mid", OS: os, AppVersion: app, Locale: locale, Custom: map[string]string{"k": app}}
		got := r.Match(&a)
		b, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		var back targeting.Rule
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Match(&a) != got {
			t.Fatalf("verdict changed over a round trip of %s", b)
		}
	})
}

// FuzzCompareVersions: on valid versions the order is antisymmetric and
// reflexive.
func FuzzCompareVersions(f *testing.F) {
	f.Add("1.2.3-rc.1", "1.2.3")
	f.Add("v10", "9.9.9+x")
	f.Fuzz(func(t *testing.T, a, b string) {
		if targeting.ValidVersion(a) != nil || targeting.ValidVersion(b) != nil {
			return
		}
		if x, y := targeting.CompareVersions(a, b), targeting.CompareVersions(b, a); x != -y {
			t.Fatalf("Compare(%q, %q) = %d but reverse %d", a, b, x, y)
		}
		if targeting.CompareVersions(a, a) != 0 {
			t.Fatalf("Compare(%q, itself) ≠ 0", a)
		}
	})
}
