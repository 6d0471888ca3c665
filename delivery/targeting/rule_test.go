package targeting_test

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/delivery/targeting"
)

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"14", "14.0.0", 0},
		{"v1.2.3", "1.2.3", 0},
		{"1.2.3+build7", "1.2.3+other", 0},
		{"1.2.3+build-7", "1.2.3", 0},
		{"1.10", "1.9", 1},
		{"5.2.0", "5.10.0", -1},
		{"12", "13", -1},
		{"1.0.0-alpha", "1.0.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"007.1", "7.1", 0},
		{"123456789012345678", "99", 1},
	}
	for _, c := range cases {
		if got := targeting.CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := targeting.CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
	for _, bad := range []string{"", "v", "1..2", "1.x", "1.2-", "1.2-a..b", ".1", "1.", "-rc1"} {
		if targeting.ValidVersion(bad) == nil {
			t.Errorf("ValidVersion(%q) accepted", bad)
		}
	}
}

const exampleRule = `{"all": [
  {"class": ["mid", "high"]},
  {"os": {"name": "android", "gte": "12"}},
  {"app_version": {"gte": "5.2.0", "lt": "6"}},
  {"not": {"region": ["CN"]}},
  {"any": [{"locale": ["de"]}, {"custom": {"key": "beta", "in": ["1"]}}]}
]}`

func TestRuleMatch(t *testing.T) {
	var r targeting.Rule
	if err := json.Unmarshal([]byte(exampleRule), &r); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	base := targeting.Attributes{Class: "mid", OS: "Android 14", AppVersion: "5.3.1", Region: "ch", Locale: "de-CH"}
	if !r.Match(&base) {
		t.Fatalf("base device does not match")
	}
	mutate := map[string]func(a *targeting.Attributes){
		"low class":       func(a *targeting.Attributes) { a.Class = "low" },
		"no class":        func(a *targeting.Attributes) { a.Class = "" },
		"ios":             func(a *targeting.Attributes) { a.OS = "ios 17.4" },
		"android 11":      func(a *targeting.Attributes) { a.OS = "android 11.0.1" },
		"os no version":   func(a *targeting.Attributes) { a.OS = "android" },
		"app 6.0.0":       func(a *targeting.Attributes) { a.AppVersion = "6.0.0" },
		"app 5.2.0-rc1":   func(a *targeting.Attributes) { a.AppVersion = "5.2.0-rc1" },
		"app garbage":     func(a *targeting.Attributes) { a.AppVersion = "five" },
		"region cn":       func(a *targeting.Attributes) { a.Region = "cn" },
		"locale fr":       func(a *targeting.Attributes) { a.Locale = "fr-CH" },
		"locale deu":      func(a *targeting.Attributes) { a.Locale = "deu" },
		"beta wrong":      func(a *targeting.Attributes) { a.Locale = "fr"; a.Custom = map[string]string{"beta": "0"} },
		"locale missing":  func(a *targeting.Attributes) { a.Locale = "" },
		"custom key only": func(a *targeting.Attributes) { a.Locale = "en"; a.Custom = map[string]string{"other": "1"} },
	}
	for name, f := range mutate {
		a := base
		f(&a)
		if r.Match(&a) {
			t.Errorf("%s: matched", name)
		}
	}
	keep := map[string]func(a *targeting.Attributes){
		"high class":   func(a *targeting.Attributes) { a.Class = "high" },
		"android 12":   func(a *targeting.Attributes) { a.OS = "android 12" },
		"app 5.2.0":    func(a *targeting.Attributes) { a.AppVersion = "5.2.0" },
		"app 5.99":     func(a *targeting.Attributes) { a.AppVersion = "v5.99+b1" },
		"no region":    func(a *targeting.Attributes) { a.Region = "" },
		"locale de_AT": func(a *targeting.Attributes) { a.Locale = "de_AT" },
		"beta":         func(a *targeting.Attributes) { a.Locale = "fr"; a.Custom = map[string]string{"beta": "1"} },
	}
	for name, f := range keep {
		a := base
		f(&a)
		if !r.Match(&a) {
			t.Errorf("%s: did not match", name)
		}
	}
	var all targeting.Rule
	if !all.Match(&targeting.Attributes{}) {
		t.Error("the zero rule must match everyone")
	}
}

func TestRuleJSONRoundTrip(t *testing.T) {
	var r targeting.Rule
	if err := json.Unmarshal([]byte(exampleRule), &r); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back targeting.Rule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, back) {
		t.Errorf("round trip changed the rule:\n%s", b)
	}
	if !strings.Contains(string(b), `"app_version":{"gte":"5.2.0","lt":"6"}`) {
		t.Errorf("unexpected encoding: %s", b)
	}
}

func TestRuleValidate(t *testing.T) {
	bad := []string{
		`{"class": ["a"], "region": ["CH"]}`,
		`{"any": []}`,
		`{"class": []}`,
		`{"class": [""]}`,
		`{"os": {}}`,
		`{"os": {"name": "android", "gte": "x"}}`,
		`{"app_version": {}}`,
		`{"app_version": {"gte": "1", "gt": "2"}}`,
		`{"custom": {"in": ["1"]}}`,
		`{"custom": {"key": "k"}}`,
		`{"custom": {"key": "k", "in": ["1"], "gte": "2"}}`,
		`{"not": {"all": [{"locale": []}]}}`,
		strings.Repeat(`{"not": `, 40) + `{}` + strings.Repeat(`}`, 40),
	}
	for _, s := range bad {
		var r targeting.Rule
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if err := r.Validate(); err == nil {
			t.Errorf("Validate accepted %s", s)
		}
	}
}

// TestAttributesConvert: delivery.Attributes converts to Attributes with a
// plain conversion (the fields must stay identical).
func TestAttributesConvert(t *testing.T) {
	d := delivery.Attributes{Class: "mid", OS: "android 14", AppVersion: "5.3", Region: "CH", Locale: "de-CH", Custom: map[string]string{"k": "v"}}
	a := targeting.Attributes(d)
	if a.Class != d.Class || a.OS != d.OS || a.Custom["k"] != "v" {
		t.Errorf("conversion lost fields: %+v", a)
	}
}

// TestDeviceBuildStdlibOnly: the SDK links this package, so its android
// build imports the standard library only.
func TestDeviceBuildStdlibOnly(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(cmd.Environ(), "GOOS=android", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/sextant-ml/sextant/delivery/targeting" {
			continue
		}
		if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
			t.Errorf("device-side targeting imports non-standard package %s", p)
		}
	}
}
