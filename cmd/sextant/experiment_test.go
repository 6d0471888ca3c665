package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runExperiment(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"experiment"}, args...), &out, &errb)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%v: %v in %q", args, err, out.String())
	}
	return v, nil
}

// TestExperimentAnalyzeCLI: the stable JSON interface, on gbstats'
// published worked values.
func TestExperimentAnalyzeCLI(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		input string
		want  map[string]float64
	}{
		{`{"metric":"mean","relative":true,"alpha":0.05,"sequential":null,
		   "control":{"n":3407,"sum":1396.87,"sum_squares":52377.9767},
		   "treatment":{"n":3461,"sum":2422.7,"sum_squares":134698.29}}`,
			map[string]float64{"effect": 0.70732, "ci_low": -0.03526, "ci_high": 1.44989, "se": 0.37879, "p_value": 0.06191}},
		{`{"metric":"mean","relative":false,"alpha":0.05,"sequential":null,
		   "control":{"n":3407,"sum":1396.87,"sum_squares":52377.9767},
		   "treatment":{"n":3461,"sum":2422.7,"sum_squares":134698.29}}`,
			map[string]float64{"effect": 0.29, "ci_low": 0.04538, "ci_high": 0.53462, "se": 0.12478, "p_value": 0.02016, "df": 5841.74203}},
		{`{"metric":"proportion","relative":true,"alpha":0.05,"sequential":null,
		   "control":{"n":28,"sum":14},"treatment":{"n":30,"sum":16}}`,
			map[string]float64{"ci_low": -0.47767, "ci_high": 0.61101, "se": 0.2717, "p_value": 0.80707}},
		{`{"metric":"mean","relative":true,"alpha":0.05,"sequential":{"tuning":1000},
		   "control":{"n":3000,"sum":1396.87,"sum_squares":52377.9767},
		   "treatment":{"n":3461,"sum":2422.7,"sum_squares":134698.29}}`,
			map[string]float64{"effect": 0.50336, "ci_low": -0.55844, "ci_high": 1.56516, "se": 0.33341, "p_value": 1}},
	}
	for i, c := range cases {
		path := filepath.Join(dir, "in.json")
		if err := os.WriteFile(path, []byte(c.input), 0o600); err != nil {
			t.Fatal(err)
		}
		v, err := runExperiment(t, "analyze", "--input", path, "--json")
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		for _, k := range []string{"effect", "ci_low", "ci_high", "se", "p_value", "df"} {
			if _, ok := v[k].(float64); !ok {
				t.Errorf("case %d: output lacks %q: %v", i, k, v)
			}
		}
		for k, w := range c.want {
			if got := v[k].(float64); math.Abs(math.Round(got*1e5)/1e5-w) > 1e-9 {
				t.Errorf("case %d: %s = %v, want %v", i, k, got, w)
			}
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"metric":"median","control":{"n":3,"sum":1,"sum_squares":1},"treatment":{"n":3,"sum":1,"sum_squares":1}}`), 0o600)
	if _, err := runExperiment(t, "analyze", "--input", bad, "--json"); err == nil || !strings.Contains(err.Error(), "median") {
		t.Errorf("unknown metric: %v", err)
	}
}

func TestExperimentSRMCLI(t *testing.T) {
	v, err := runExperiment(t, "srm", "--counts", "50000,49000", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v["chi2"].(float64)-10.1010101010101) > 1e-9 || math.Abs(v["p_value"].(float64)-0.0014818807747203882) > 1e-12 {
		t.Errorf("srm: %v (scipy χ² 10.1010101 p 0.00148188)", v)
	}
	if len(v) != 2 {
		t.Errorf("srm JSON has keys beyond chi2 and p_value: %v", v)
	}
	v, err = runExperiment(t, "srm", "--counts", "3000,7100", "--weights", "0.3,0.7", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(v["p_value"].(float64)-0.5147852458084219) > 1e-12 {
		t.Errorf("weighted srm: %v", v)
	}
	if _, err := runExperiment(t, "srm", "--counts", "1,x", "--json"); err == nil {
		t.Error("bad counts accepted")
	}
}
