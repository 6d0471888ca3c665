package peer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sextant-ml/sextant/tensor"
)

// ORTVersion is the ONNX Runtime release the comparison is made against.
// bench/setup.sh installs its CPU library from the npm package
// onnxruntime-node. The Go wrapper, onnxruntime_go v1.27.0, is built against
// the C API of ORT 1.24 (ORT_API_VERSION 24); ORT's C API is versioned and
// a newer library serves every older API version through OrtGetApiBase()->
// GetApi(n), so the wrapper drives the 1.30 library unchanged.
const ORTVersion = "1.30.0"

// ErrNoORT is returned when ONNX Runtime's library is not installed.
var ErrNoORT = errors.New("peer: ONNX Runtime library not found (run bench/setup.sh)")

// DefaultORTLib returns where bench/setup.sh installs the library, given the
// bench module's directory, or $ORT_LIB when set.
func DefaultORTLib(benchDir string) string {
	if p := os.Getenv("ORT_LIB"); p != "" {
		return p
	}
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	return filepath.Join(benchDir, "node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", arch, "libonnxruntime.so.1")
}

var (
	initOnce sync.Once
	initErr  error
)

// InitORT loads ONNX Runtime's shared library and creates its environment
// (log level error). Only the first call's path counts.
func InitORT(lib string) error {
	initOnce.Do(func() {
		if _, err := os.Stat(lib); err != nil {
			initErr = fmt.Errorf("%w: %v", ErrNoORT, err)
			return
		}
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("peer: initialize ONNX Runtime from %s: %w", lib, err)
			return
		}
		if err := ort.DisableTelemetry(); err != nil {
			initErr = fmt.Errorf("peer: disable ORT telemetry: %w", err)
		}
	})
	return initErr
}

// LoadedORTVersion is the version string the loaded library reports.
func LoadedORTVersion() string { return ort.GetVersion() }

// ORTSessionOptions lists the session options every ORT session with
// threads intra-op threads is created with, in the order they are set, as
// "name=value".
func ORTSessionOptions(threads int) []string {
	spin := "session.intra_op.allow_spinning=0 (moot with one thread)"
	if threads > 1 {
		// With ORT's default (spinning on), its pool threads keep spinning
		// after each run and, in compare's alternating blocks, hold the
		// second core while Sextant runs: Sextant's MatMul 256³ on two
		// threads took 124.8 µs beside a spinning ORT against 71.3 µs
		// beside a sleeping one (2026-11-26, idle machine), ORT 67.8 and
		// 84.4 µs. Sextant's workers poll for at most ~200 µs after a
		// product, then park.
		spin = "session.intra_op.allow_spinning=0 (spinning ORT threads would hold the core Sextant's worker needs between blocks)"
	}
	return []string{
		fmt.Sprintf("intra_op_num_threads=%d", threads),
		"inter_op_num_threads=1",
		"execution_mode=ORT_SEQUENTIAL",
		"graph_optimization_level=ORT_ENABLE_ALL",
		spin,
		"cpu_mem_arena=on (default)",
		"mem_pattern=on (default)",
		"execution_provider=CPU (default)",
	}
}

// spinning is the allow_spinning entry for threads intra-op threads (see
// ORTSessionOptions).
func spinning(int) string { return "0" }

func newSessionOptions(threads int) (*ort.SessionOptions, error) {
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	for _, set := range []func() error{
		func() error { return o.SetIntraOpNumThreads(max(threads, 1)) },
		func() error { return o.SetInterOpNumThreads(1) },
		func() error { return o.SetExecutionMode(ort.ExecutionModeSequential) },
		func() error { return o.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll) },
		func() error { return o.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning(threads)) },
	} {
		if err := set(); err != nil {
			o.Destroy()
			return nil, err
		}
	}
	return o, nil
}

// IOInfo is one input or output of an ORT session.
type IOInfo struct {
	Name  string
	Shape Shape
}

// ORT is one ONNX Runtime session with pre-made output tensors. Inputs are
// bound per input set (Bind) so a run passes pre-made OrtValues that share
// the Sextant input tensors' memory.
type ORT struct {
	sess    *ort.DynamicAdvancedSession
	Inputs  []IOInfo
	Outputs []IOInfo
	outs    []ort.Value
	outData [][]float32
	sets    [][]ort.Value
}

// NewORT creates a session with threads intra-op threads (the caller's
// counted) for an ONNX model whose inputs and outputs are float32 tensors of
// fixed shape.
func NewORT(model []byte, threads int) (*ORT, error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("peer: ORT: %w", err)
	}
	o := &ORT{}
	var inNames, outNames []string
	for _, in := range ins {
		if in.DataType != ort.TensorElementDataTypeFloat {
			return nil, fmt.Errorf("peer: ORT: input %q is %v, want float", in.Name, in.DataType)
		}
		o.Inputs = append(o.Inputs, IOInfo{in.Name, Shape(in.Dimensions)})
		inNames = append(inNames, in.Name)
	}
	for _, out := range outs {
		if out.DataType != ort.TensorElementDataTypeFloat {
			return nil, fmt.Errorf("peer: ORT: output %q is %v, want float", out.Name, out.DataType)
		}
		for _, d := range out.Dimensions {
			if d <= 0 {
				return nil, fmt.Errorf("peer: ORT: output %q has dynamic shape %v", out.Name, out.Dimensions)
			}
		}
		o.Outputs = append(o.Outputs, IOInfo{out.Name, Shape(out.Dimensions)})
		outNames = append(outNames, out.Name)
	}
	opts, err := newSessionOptions(threads)
	if err != nil {
		return nil, fmt.Errorf("peer: ORT session options: %w", err)
	}
	defer opts.Destroy()
	o.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, opts)
	if err != nil {
		return nil, fmt.Errorf("peer: ORT: %w", err)
	}
	for _, out := range o.Outputs {
		t, err := ort.NewEmptyTensor[float32](ort.Shape(out.Shape))
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("peer: ORT output %q: %w", out.Name, err)
		}
		o.outs = append(o.outs, t)
		o.outData = append(o.outData, t.GetData())
	}
	return o, nil
}

// Bind makes ORT tensors over the input sets' memory (the same bytes
// Sextant reads); RunSet(i) then runs on sets[i]. The tensors must stay
// alive, and unmodified, while the session runs on them.
func (o *ORT) Bind(sets [][]*tensor.Tensor) error {
	o.releaseSets()
	for _, set := range sets {
		if len(set) != len(o.Inputs) {
			return fmt.Errorf("peer: ORT: input set has %d tensors, model takes %d", len(set), len(o.Inputs))
		}
		vals := make([]ort.Value, len(set))
		for j, t := range set {
			shape := make(ort.Shape, len(t.Shape))
			for k, d := range t.Shape {
				shape[k] = int64(d)
			}
			v, err := ort.NewTensor(shape, tensor.Data[float32](t))
			if err != nil {
				return fmt.Errorf("peer: ORT input %q: %w", o.Inputs[j].Name, err)
			}
			vals[j] = v
		}
		o.sets = append(o.sets, vals)
	}
	return nil
}

// RunSet runs the model on bound input set i; outputs go to Output.
func (o *ORT) RunSet(i int) error {
	return o.sess.Run(o.sets[i], o.outs)
}

// Output returns output j's data from the last run (owned by the session).
func (o *ORT) Output(j int) []float32 { return o.outData[j] }

func (o *ORT) releaseSets() {
	for _, set := range o.sets {
		for _, v := range set {
			v.Destroy()
		}
	}
	o.sets = nil
}

// Close releases the session and its tensors.
func (o *ORT) Close() {
	o.releaseSets()
	for _, v := range o.outs {
		v.Destroy()
	}
	o.outs = nil
	if o.sess != nil {
		o.sess.Destroy()
		o.sess = nil
	}
}
