package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// inject adds an unknown member to the JSON object at path (keys, or
// indices into arrays) of doc.
func inject(t *testing.T, doc map[string]any, path ...any) {
	t.Helper()
	var cur any = doc
	for _, p := range path {
		switch k := p.(type) {
		case string:
			cur = cur.(map[string]any)[k]
		case int:
			cur = cur.([]any)[k]
		}
	}
	obj, ok := cur.(map[string]any)
	if !ok {
		t.Fatalf("path %v is not an object", path)
	}
	obj["x_future"] = map[string]any{"depth": float64(len(path)), "list": []any{"a", float64(1), nil}}
}

func TestUnknownManifestFieldsSurvive(t *testing.T) {
	g := testGraph()
	m := testManifest(g)
	m.Ops = OpsUsed(g)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	paths := [][]any{
		{},
		{"signature"},
		{"signature", "inputs", 0},
		{"signature", "inputs", 0, "coarsening"},
		{"signature", "outputs", 0},
		{"quantization"},
		{"quantization", "tensors", "w_i8"},
		{"fine_tuning"},
		{"fine_tuning", "optimizer"},
		{"calibration"},
		{"server_variant"},
		{"golden"},
		{"golden", "inputs", 1},
		{"golden", "outputs", 0},
		{"golden", "tolerance"},
		{"provenance"},
		{"provenance", "privacy"},
		{"provenance", "producer"},
	}
	for _, p := range paths {
		inject(t, doc, p...)
	}
	withUnknown, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var m2 Manifest
	if err := json.Unmarshal(withUnknown, &m2); err != nil {
		t.Fatal(err)
	}
	if m2.Unknown["x_future"] == nil || m2.Signature.Inputs[0].Coarsening.Unknown["x_future"] == nil {
		t.Fatal("unknown members were not kept on decode")
	}
	var buf bytes.Buffer
	if err := Write(&buf, g, &m2, testExtras()...); err != nil {
		t.Fatal(err)
	}
	b, err := OpenBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(b.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, doc) {
		t.Fatalf("manifest changed in a bundle round trip:\n got %s\nwant %s", out, withUnknown)
	}
	// Re-encoding is deterministic: unknown members are sorted after the
	// known ones.
	again, _ := json.Marshal(b.Manifest)
	if !bytes.Equal(out, again) {
		t.Error("manifest encoding is not deterministic")
	}
}

func TestUnknownFieldsDoNotShadowKnownOnes(t *testing.T) {
	var c Coarsening
	if err := json.Unmarshal([]byte(`{"KIND":"h3","resolution":7,"other":1}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Kind != "h3" || len(c.Unknown) != 1 {
		t.Fatalf("decoded %+v", c)
	}
	c.Unknown["kind"] = json.RawMessage(`"evil"`)
	out, _ := json.Marshal(c)
	if strings.Contains(string(out), "evil") || !strings.Contains(string(out), `"other":1`) {
		t.Fatalf("encoded %s", out)
	}
}

func TestShapeJSON(t *testing.T) {
	var s Shape
	if err := json.Unmarshal([]byte(`["batch", 32, null]`), &s); err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || s[0].Sym != "batch" || s[1].Size != 32 || s[2].IsFixed() || s[2].Sym != "" {
		t.Fatalf("decoded %v", s)
	}
	out, _ := json.Marshal(s)
	if string(out) != `["batch",32,null]` {
		t.Fatalf("encoded %s", out)
	}
	for _, bad := range []string{`[-1]`, `[1.5]`, `[true]`, `{"a":1}`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("shape %s accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		field string
		edit  func(m *Manifest)
	}{
		{"name", func(m *Manifest) { m.Name = "" }},
		{"version", func(m *Manifest) { m.Version = "v1.0.0" }},
		{"version", func(m *Manifest) { m.Version = "1.02.0" }},
		{"parent_version", func(m *Manifest) { m.ParentVersion = "1.2.0" }},
		{"signature.inputs[1].privacy", func(m *Manifest) { m.Signature.Inputs[1].Privacy = "secret" }},
		{"signature.inputs[1].privacy", func(m *Manifest) { m.Signature.Inputs[1].Privacy = "" }},
		{"signature.inputs[0].coarsening", func(m *Manifest) { m.Signature.Inputs[0].Coarsening = nil }},
		{"signature.inputs[1].coarsening", func(m *Manifest) {
			m.Signature.Inputs[1].Coarsening = &Coarsening{Kind: CoarsenH3, Resolution: 5}
		}},
		{"signature.inputs[0].coarsening.resolution", func(m *Manifest) { m.Signature.Inputs[0].Coarsening.Resolution = 16 }},
		{"signature.inputs[2].coarsening.minutes", func(m *Manifest) { m.Signature.Inputs[2].Coarsening.Minutes = 0 }},
		{"signature.inputs[2].coarsening.edges", func(m *Manifest) {
			m.Signature.Inputs[2].Coarsening = &Coarsening{Kind: CoarsenBucket, Edges: []float64{1, 1}}
		}},
		{"signature.inputs[0].dtype", func(m *Manifest) { m.Signature.Inputs[0].DType = "float128" }},
		{"signature.inputs[0].dtype", func(m *Manifest) { m.Signature.Inputs[0].DType = "int32" }},
		{"signature.inputs[0].shape", func(m *Manifest) { m.Signature.Inputs[0].Shape = m.Signature.Inputs[0].Shape[:1] }},
		{"signature.inputs[1].name", func(m *Manifest) { m.Signature.Inputs[1].Name = "x" }},
		{"signature.inputs", func(m *Manifest) { m.Signature.Inputs = m.Signature.Inputs[:2]; m.Golden = nil }},
		{"signature.inputs[3]", func(m *Manifest) {
			m.Signature.Inputs = append(m.Signature.Inputs, Input{Name: "ghost", DType: "float32", Privacy: Public})
		}},
		{"signature.outputs[0]", func(m *Manifest) { m.Signature.Outputs[0].Name = "nope"; m.Golden = nil }},
		{"preprocessing.mean[0]", func(m *Manifest) { m.Preprocessing["mean"][0] = inf() }},
		{`quantization.tensors["w_i8"].zero_point`, func(m *Manifest) {
			q := m.Quantization.Tensors["w_i8"]
			q.ZeroPoint = q.ZeroPoint[:1]
			m.Quantization.Tensors["w_i8"] = q
		}},
		{`quantization.tensors["w_u8"].scale[0]`, func(m *Manifest) { m.Quantization.Tensors["w_u8"].Scale[0] = 0 }},
		{`quantization.tensors["w_i8"].axis`, func(m *Manifest) {
			q := m.Quantization.Tensors["w_i8"]
			q.Axis = nil
			m.Quantization.Tensors["w_i8"] = q
		}},
		{"fine_tuning.trainable[1]", func(m *Manifest) { m.FineTuning.Trainable[1] = "[" }},
		{"fine_tuning.trainable[0]", func(m *Manifest) { m.FineTuning.Trainable[0] = "missing/*" }},
		{"fine_tuning.trainable[0]", func(m *Manifest) { m.FineTuning.Trainable[0] = "missing" }},
		{"fine_tuning.optimizer.lr", func(m *Manifest) { m.FineTuning.Optimizer.LearningRate = 0 }},
		{"fine_tuning.optimizer.betas[1]", func(m *Manifest) { m.FineTuning.Optimizer.Betas[1] = 1 }},
		{"calibration.cascade_threshold", func(m *Manifest) { m.Calibration.CascadeThreshold = 1.5 }},
		{"server_variant.inputs[1]", func(m *Manifest) { m.ServerVariant.Inputs[1] = "tokens" }},
		{"server_variant.inputs[1]", func(m *Manifest) { m.ServerVariant.Inputs[1] = "nope" }},
		{"golden.inputs", func(m *Manifest) { m.Golden.Inputs = m.Golden.Inputs[1:] }},
		{"golden.outputs[0].name", func(m *Manifest) { m.Golden.Outputs[0].Name = "z" }},
		{"golden.tolerance.abs", func(m *Manifest) { m.Golden.Tolerance.Abs = -1 }},
		{"provenance.privacy.delta", func(m *Manifest) { m.Provenance.Privacy.Delta = 1 }},
		{"min_runtime_version", func(m *Manifest) { m.MinRuntimeVersion = "latest" }},
		{"ops", func(m *Manifest) { m.Ops = []string{"MatMul"} }},
	}
	g := testGraph()
	base := testManifest(g)
	base.Ops = OpsUsed(g)
	if err := base.Validate(g); err != nil {
		t.Fatalf("fixture manifest invalid: %v", err)
	}
	for _, c := range cases {
		m := testManifest(g)
		m.Ops = OpsUsed(g)
		c.edit(m)
		err := m.Validate(g)
		var me *ManifestError
		if !errors.As(err, &me) {
			t.Errorf("%s: Validate = %v, want a *ManifestError", c.field, err)
			continue
		}
		if !strings.Contains(err.Error(), "manifest "+c.field+":") {
			t.Errorf("%s: error does not name the field: %v", c.field, err)
		}
	}
	// Unknown coarsening kinds are accepted (devices treat them as private).
	m := testManifest(g)
	m.Ops = OpsUsed(g)
	m.Signature.Inputs[0].Coarsening = &Coarsening{Kind: "geohash", Unknown: map[string]json.RawMessage{"precision": json.RawMessage("6")}}
	if err := m.Validate(g); err != nil {
		t.Errorf("unknown coarsening kind rejected: %v", err)
	}
}

func inf() float64 { var z float64; return 1 / z }

func TestGoldenTensorsMustExist(t *testing.T) {
	g := testGraph()
	var buf bytes.Buffer
	err := Write(&buf, g, testManifest(g), testExtras()[1:]...)
	var me *ManifestError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "golden/in/x") {
		t.Fatalf("Write without a golden tensor = %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	good := []string{"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0-x-y-z.--"}
	for _, s := range good {
		v, err := ParseVersion(s)
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", s, err)
		} else if v.String() != s {
			t.Errorf("ParseVersion(%q).String() = %q", s, v.String())
		}
	}
	bad := []string{"", "1", "1.2", "1.2.3.4", "v1.2.3", "01.2.3", "1.2.03", "1.2.3-", "1.2.3-01", "1.2.3+", "1.2.3-a..b", "1.2.3-a_b", "-1.2.3", "1.2.3 "}
	for _, s := range bad {
		if _, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", s)
		}
	}
	// Precedence example from semver.org §11.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"}
	for i := range order {
		for j := range order {
			a, _ := ParseVersion(order[i])
			b, _ := ParseVersion(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	a, _ := ParseVersion("1.0.0+a")
	b, _ := ParseVersion("1.0.0+b")
	if a.Compare(b) != 0 {
		t.Error("build metadata affects precedence")
	}
}
