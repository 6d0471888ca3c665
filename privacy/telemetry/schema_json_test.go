package telemetry

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRegistryFileRoundTrip(t *testing.T) {
	in := []Schema{placesSchema(), routesSchema(), versionSchema()}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"retention":"168h0m0s"`) {
		t.Fatalf("retention not written as a duration: %s", raw)
	}
	reg, err := ParseRegistry(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range in {
		got, err := reg.Lookup(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: %+v after a round trip, want %+v", want.Name, *got, want)
		}
	}
	decl := `[{"name":"crash_reason","fields":[{"name":"reason","type":"string"}],"mechanism":"hcms",
	  "epsilon":1,"daily_budget":2,"retention":"72h","m":64,"k":2,"seeds":[1,2]}]`
	reg, err = ParseRegistry([]byte(decl))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := reg.Lookup("crash_reason")
	if s.Retention != 72*time.Hour || s.Mechanism != HCMS {
		t.Fatalf("parsed %+v", s)
	}
	for name, bad := range map[string]string{
		"misspelt key":      strings.Replace(decl, `"daily_budget"`, `"daily_budgte"`, 1),
		"bad duration":      strings.Replace(decl, `"72h"`, `"3 days"`, 1),
		"invalid schema":    strings.Replace(decl, `"epsilon":1`, `"epsilon":0`, 1),
		"unknown field key": strings.Replace(decl, `"type":"string"`, `"type":"string","pii":true`, 1),
	} {
		if _, err := ParseRegistry([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
