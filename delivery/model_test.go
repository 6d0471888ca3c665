package delivery

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/bundle"
)

func TestCheckIncreases(t *testing.T) {
	for _, c := range []struct {
		have, got string
		ok        bool
	}{
		{"", "0.0.1", true},
		{"1.0.0", "1.0.1", true},
		{"1.0.0-rc.1", "1.0.0", true},
		{"1.0.0-rc.2", "1.0.0-rc.10", true},
		{"1.9.0", "1.10.0", true},
		{"1.0.0", "1.0.0", false},
		{"1.0.0", "1.0.0+build.2", false}, // build metadata has no precedence
		{"1.0.0", "1.0.0-rc.9", false},
		{"2.0.0", "1.99.99", false},
	} {
		err := CheckIncreases("eta", c.have, c.got)
		if (err == nil) != c.ok {
			t.Errorf("CheckIncreases(%q, %q) = %v, want ok=%v", c.have, c.got, err, c.ok)
		}
		var ve *VersionError
		if !c.ok && (!errors.As(err, &ve) || ve.Have != c.have || ve.Got != c.got) {
			t.Errorf("CheckIncreases(%q, %q) = %v, want a *VersionError", c.have, c.got, err)
		}
	}
	if err := CheckIncreases("eta", "1.0.0", "v2"); !errors.Is(err, ErrInvalid) {
		t.Errorf("non-semver: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for s, ok := range map[string]bool{
		"eta": true, "next-destination": true, "m2.v_3": true, "0x": true,
		"": false, "-x": false, ".hidden": false, "Upper": false, "a/b": false, "a b": false,
		"..": false, strings.Repeat("a", 129): false, strings.Repeat("a", 128): true,
	} {
		if ValidName(s) != ok {
			t.Errorf("ValidName(%q) = %v", s, !ok)
		}
	}
}

func validVersion() Version {
	return Version{Model: "eta", Version: "1.1.0", Parent: "1.0.0", SHA256: HashSecret("b"), Length: 10}
}

func TestVersionValidate(t *testing.T) {
	if v := validVersion(); v.Validate() != nil {
		t.Fatalf("valid version refused: %v", v.Validate())
	}
	for name, mutate := range map[string]func(*Version){
		"bad model":       func(v *Version) { v.Model = "Eta" },
		"not semver":      func(v *Version) { v.Version = "v1.1" },
		"parent after":    func(v *Version) { v.Parent = "1.2.0" },
		"parent itself":   func(v *Version) { v.Parent = "1.1.0" },
		"bad parent":      func(v *Version) { v.Parent = "one" },
		"upper-case hash": func(v *Version) { v.SHA256 = strings.ToUpper(v.SHA256) },
		"short hash":      func(v *Version) { v.SHA256 = v.SHA256[:10] },
		"empty":           func(v *Version) { v.Length = 0 },
		"manifest":        func(v *Version) { v.Manifest = json.RawMessage("{") },
		"eval report":     func(v *Version) { v.Lineage.EvalReport = json.RawMessage("[") },
		"negative ε":      func(v *Version) { v.Lineage.Privacy = &Privacy{Epsilon: -1} },
		"δ of 1":          func(v *Version) { v.Lineage.Privacy = &Privacy{Epsilon: 1, Delta: 1} },
	} {
		v := validVersion()
		mutate(&v)
		if err := v.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestArtifactValidate(t *testing.T) {
	ok := Artifact{SHA256: HashSecret("d"), Length: 5, Kind: KindDelta, Model: "eta", Version: "1.1.0", From: "1.0.0"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Artifact){
		"delta without from": func(a *Artifact) { a.From = "" },
		"bundle with from":   func(a *Artifact) { a.Kind = KindBundle },
		"unknown kind":       func(a *Artifact) { a.Kind = "tarball" },
		"no version":         func(a *Artifact) { a.Version = "" },
		"bad hash":           func(a *Artifact) { a.SHA256 = "zz" },
	} {
		a := ok
		mutate(&a)
		if err := a.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestVersionFromManifest(t *testing.T) {
	m := &bundle.Manifest{Name: "eta", Version: "1.2.0", ParentVersion: "1.1.0", Provenance: bundle.Provenance{
		DataSnapshot: "sha256:abc", TrainingRun: "run-9", FederatedRounds: []string{"r7"},
		Privacy: &bundle.PrivacyCost{Epsilon: 3, Delta: 1e-6},
	}}
	v := VersionFromManifest(m)
	if v.Model != "eta" || v.Version != "1.2.0" || v.Parent != "1.1.0" || v.Lineage.DataSnapshot != "sha256:abc" ||
		v.Lineage.TrainingRun != "run-9" || len(v.Lineage.FederatedRounds) != 1 ||
		v.Lineage.Privacy == nil || v.Lineage.Privacy.Epsilon != 3 || v.Lineage.Privacy.Delta != 1e-6 {
		t.Fatalf("VersionFromManifest = %+v", v)
	}
	m.Provenance.Privacy = nil
	if VersionFromManifest(m).Lineage.Privacy != nil {
		t.Fatal("no recorded cost must stay nil")
	}
}

func TestTokenAllows(t *testing.T) {
	for _, c := range []struct {
		scope Scope
		allow []Scope
	}{
		{ScopeRead, []Scope{ScopeRead}},
		{ScopePublish, []Scope{ScopePublish, ScopeRead}},
		{ScopeRollout, []Scope{ScopeRollout, ScopeRead}},
		{ScopeEnroll, []Scope{ScopeEnroll}},
	} {
		tok := Token{ID: "t", Hash: HashSecret("s"), Scope: c.scope}
		for _, s := range []Scope{ScopeRead, ScopePublish, ScopeRollout, ScopeEnroll} {
			want := false
			for _, a := range c.allow {
				want = want || a == s
			}
			if tok.Allows(s) != want {
				t.Errorf("%s token Allows(%s) = %v", c.scope, s, !want)
			}
		}
		tok.RevokedAt = tok.CreatedAt.AddDate(1, 0, 0)
		if tok.Allows(c.scope) {
			t.Errorf("revoked %s token still allowed", c.scope)
		}
	}
}

func TestHashSecret(t *testing.T) {
	// FIPS 180-2 appendix B.1 test vector.
	if got := HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s", got)
	}
	if !ValidSHA256(HashSecret("x")) {
		t.Fatal("a hash is not a valid address")
	}
}

func TestAuditLimit(t *testing.T) {
	for in, want := range map[int]int{0: DefaultAuditLimit, -5: DefaultAuditLimit, 7: 7, MaxAuditLimit + 1: MaxAuditLimit} {
		if got := (AuditQuery{Limit: in}).EffectiveLimit(); got != want {
			t.Errorf("limit %d → %d, want %d", in, got, want)
		}
	}
}
