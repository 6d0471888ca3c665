package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func newInspectCmd(e *env) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect FILE.sxm",
		Short: "Describe a model bundle: signature and privacy, ops, weights, provenance",
		Long: `Inspect prints what a .sxm bundle holds: its name and version, inputs and
outputs with dtypes, shapes and privacy classes, op counts, parameters,
tensor layouts and the manifest's provenance.

--json prints one JSON object with the keys name, version, parent_version,
format_version, sha256 (the stored content hash), size_bytes, inputs,
outputs, ops (op → count), nodes, parameters, parameter_bytes, tensors
(name, dtype, shape, layout, bytes), layouts (layout → count, "" = plain),
verified (with --verify) and manifest.

--verify checks the content hash first and exits with status 1 if the file
does not match it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(e, args[0], opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.json, "json", false, "print a JSON object instead of text")
	f.BoolVar(&opts.verify, "verify", false, "check the content hash; exit 1 if it does not match")
	f.BoolVar(&opts.tensors, "tensors", false, "list every tensor of the table (text output)")
	return cmd
}

type inspectOptions struct {
	json, verify, tensors bool
}

// inspectReport is the stable JSON form of `sextant inspect --json`. Add
// keys; do not rename or remove them.
type inspectReport struct {
	Name           string           `json:"name"`
	Version        string           `json:"version"`
	ParentVersion  string           `json:"parent_version,omitempty"`
	FormatVersion  uint32           `json:"format_version"`
	SHA256         string           `json:"sha256"`
	Verified       *bool            `json:"verified,omitempty"`
	SizeBytes      int64            `json:"size_bytes"`
	Inputs         []inspectIO      `json:"inputs"`
	Outputs        []inspectIO      `json:"outputs"`
	Ops            map[string]int   `json:"ops"`
	Nodes          int              `json:"nodes"`
	Parameters     int64            `json:"parameters"`
	ParameterBytes int64            `json:"parameter_bytes"`
	Tensors        []inspectTensor  `json:"tensors"`
	Layouts        map[string]int   `json:"layouts"`
	Manifest       *bundle.Manifest `json:"manifest"`
}

type inspectIO struct {
	Name       string             `json:"name"`
	DType      string             `json:"dtype"`
	Shape      bundle.Shape       `json:"shape"`
	Privacy    string             `json:"privacy,omitempty"`
	Coarsening *bundle.Coarsening `json:"coarsening,omitempty"`
}

type inspectTensor struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	Layout string `json:"layout"`
	Bytes  uint64 `json:"bytes"`
}

func runInspect(e *env, path string, opts inspectOptions) error {
	var verified *bool
	if opts.verify {
		if err := bundle.VerifyFile(path); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("verification failed: %v", err)}
		}
		ok := true
		verified = &ok
	}
	b, err := bundle.Open(path)
	if err != nil {
		return err
	}
	defer b.Close()
	r := newInspectReport(b)
	r.Verified = verified
	if opts.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printInspect(e.stdout, path, r, opts.tensors)
	return nil
}

func newInspectReport(b *bundle.Bundle) *inspectReport {
	m := b.Manifest
	g := b.Graph
	r := &inspectReport{
		Name:          m.Name,
		Version:       m.Version,
		ParentVersion: m.ParentVersion,
		FormatVersion: b.Header.Version,
		SHA256:        hex.EncodeToString(b.Header.SHA256[:]),
		SizeBytes:     b.Size(),
		Inputs:        []inspectIO{},
		Outputs:       []inspectIO{},
		Ops:           map[string]int{},
		Nodes:         len(g.Nodes),
		Tensors:       []inspectTensor{},
		Layouts:       map[string]int{},
		Manifest:      m,
	}
	sig := map[string]bundle.Input{}
	for _, in := range m.Signature.Inputs {
		sig[in.Name] = in
	}
	io := func(v *graph.Value) inspectIO {
		x := inspectIO{Name: v.Name, DType: v.Type.DType.String(), Shape: bundle.ShapeOf(v.Type)}
		if in, ok := sig[v.Name]; ok {
			x.Privacy, x.Coarsening = string(in.Privacy), in.Coarsening
		}
		return x
	}
	for _, v := range g.Inputs {
		r.Inputs = append(r.Inputs, io(v))
	}
	for _, v := range g.Outputs {
		r.Outputs = append(r.Outputs, io(v))
	}
	for _, n := range g.Nodes {
		r.Ops[bundle.OpName(n)]++
	}
	for _, v := range g.Initializers {
		r.Parameters += int64(v.Const.Len())
		r.ParameterBytes += int64(len(v.Const.Raw))
		for _, s := range v.Const.Strs {
			r.ParameterBytes += int64(len(s))
		}
	}
	for _, t := range b.Tensors() {
		shape := []int(t.Shape)
		if shape == nil {
			shape = []int{}
		}
		r.Tensors = append(r.Tensors, inspectTensor{Name: t.Name, DType: t.DType.String(), Shape: shape, Layout: t.Layout, Bytes: t.Length})
		r.Layouts[t.Layout]++
	}
	return r
}

func printInspect(w io.Writer, path string, r *inspectReport, allTensors bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Manifest
	head := r.Name + " " + r.Version
	if r.ParentVersion != "" {
		head += " (parent " + r.ParentVersion + ")"
	}
	fmt.Fprintf(tw, "model\t%s\n", head)
	fmt.Fprintf(tw, "file\t%s: sxm format %d, %s (%d bytes)\n", path, r.FormatVersion, humanBytes(r.SizeBytes), r.SizeBytes)
	hash := "sha256 " + r.SHA256 + " (stored; not checked, use --verify)"
	if r.Verified != nil {
		hash = "sha256 " + r.SHA256 + " (verified)"
	}
	fmt.Fprintf(tw, "hash\t%s\n", hash)
	fmt.Fprintln(tw, "inputs\t")
	for _, in := range r.Inputs {
		fmt.Fprintf(tw, "  %s\t%s%s\t%s\n", in.Name, in.DType, shapeString(in.Shape), privacyString(in))
	}
	fmt.Fprintln(tw, "outputs\t")
	for _, out := range r.Outputs {
		fmt.Fprintf(tw, "  %s\t%s%s\t\n", out.Name, out.DType, shapeString(out.Shape))
	}
	fmt.Fprintf(tw, "ops\t%d nodes: %s\n", r.Nodes, countList(r.Ops))
	fmt.Fprintf(tw, "parameters\t%s in %s\n", thousands(r.Parameters), humanBytes(r.ParameterBytes))
	layouts := map[string]int{}
	for k, v := range r.Layouts {
		if k == "" {
			k = "plain"
		}
		layouts[k] = v
	}
	fmt.Fprintf(tw, "tensors\t%d in the table; layouts: %s\n", len(r.Tensors), countList(layouts))
	for _, t := range r.Tensors {
		if allTensors || t.Layout != "" {
			layout := t.Layout
			if layout == "" {
				layout = "plain"
			}
			fmt.Fprintf(tw, "  %s\t%s%v\t%s, %s\n", t.Name, t.DType, tensor.Shape(t.Shape), layout, humanBytes(int64(t.Bytes)))
		}
	}
	p := m.Provenance
	fmt.Fprintln(tw, "provenance\t")
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, v)
		}
	}
	if !p.CreatedAt.IsZero() {
		line("created", p.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	}
	line("producer", strings.TrimSpace(p.Producer.Tool+" "+p.Producer.Version))
	line("source", p.Source)
	line("data snapshot", p.DataSnapshot)
	line("training run", p.TrainingRun)
	if len(p.FederatedRounds) > 0 {
		line("federated rounds", strings.Join(p.FederatedRounds, ", "))
	}
	if p.Privacy != nil {
		line("privacy cost", strings.TrimSpace(fmt.Sprintf("ε=%g δ=%g %s", p.Privacy.Epsilon, p.Privacy.Delta, p.Privacy.Accountant)))
	} else {
		line("privacy cost", "none recorded")
	}
	if m.MinRuntimeVersion != "" {
		fmt.Fprintf(tw, "runtime\t>= %s\n", m.MinRuntimeVersion)
	}
	if len(m.DeviceProfiles) > 0 {
		fmt.Fprintf(tw, "devices\t%s\n", strings.Join(m.DeviceProfiles, ", "))
	}
	if q := m.Quantization; q != nil {
		fmt.Fprintf(tw, "quantization\t%s, %d tensors\n", q.Mode, len(q.Tensors))
	}
	if ft := m.FineTuning; ft != nil {
		fmt.Fprintf(tw, "fine-tuning\t%s lr=%g on %s\n", ft.Optimizer.Name, ft.Optimizer.LearningRate, strings.Join(ft.Trainable, ", "))
	}
	if s := m.ServerVariant; s != nil {
		fmt.Fprintf(tw, "server variant\t%s %s, sees %s\n", s.Model, s.Version, strings.Join(s.Inputs, ", "))
	}
	if gd := m.Golden; gd != nil {
		fmt.Fprintf(tw, "self-test\t%d golden inputs, %d outputs, tolerance abs %g rel %g\n", len(gd.Inputs), len(gd.Outputs), gd.Tolerance.Abs, gd.Tolerance.Rel)
	}
	tw.Flush()
}

func privacyString(in inspectIO) string {
	switch {
	case in.Privacy == "":
		return ""
	case in.Coarsening == nil:
		return in.Privacy
	}
	c := in.Coarsening
	var detail string
	switch c.Kind {
	case bundle.CoarsenS2:
		detail = fmt.Sprintf("s2 level %d", c.S2Level())
	case bundle.CoarsenH3:
		detail = fmt.Sprintf("h3 resolution %d", c.Resolution)
	case bundle.CoarsenTimeSlot:
		detail = fmt.Sprintf("%d-minute slots", c.Minutes)
	case bundle.CoarsenBucket:
		detail = fmt.Sprintf("%d buckets", len(c.Edges)+1)
	default:
		detail = c.Kind
	}
	return fmt.Sprintf("%s (%s)", in.Privacy, detail)
}

func shapeString(s bundle.Shape) string {
	if s == nil {
		return "[?]"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// countList formats counts as "a 3, b 1", largest first, then by name.
func countList(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
