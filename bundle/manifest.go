package bundle

import (
	"encoding/json"
	"time"
)

// Manifest describes a model for everything around the graph: who it is, what
// it consumes and what may leave the device, how to fine-tune and self-test
// it, and where it came from. It is stored as JSON in the bundle's manifest
// section, inside the content the delivery hash and signature cover.
//
// Every struct in the manifest keeps the JSON members it does not know in its
// Unknown map and writes them back, so a bundle written by a newer producer
// survives a read-modify-write by an older tool. Fields a version of Sextant
// does not fill yet stay empty and are omitted from the JSON.
type Manifest struct {
	// Name identifies the model across versions, e.g. "next-destination".
	Name string `json:"name"`
	// Version is the model's semantic version (semver.org 2.0.0), set at
	// convert or train time; the registry requires it to increase.
	Version string `json:"version"`
	// ParentVersion is the version this one was derived from (fine-tuned,
	// federated, re-quantized), empty for a first version.
	ParentVersion string `json:"parent_version,omitempty"`

	// Signature lists the model's inputs and outputs.
	Signature Signature `json:"signature"`

	// Preprocessing holds named constants the feature code applies before
	// the graph, e.g. "mean" and "std" for standardization.
	Preprocessing map[string][]float64 `json:"preprocessing,omitempty"`
	// Quantization records how the weights were quantized; nil for a float
	// model.
	Quantization *Quantization `json:"quantization,omitempty"`
	// FineTuning says which parameters on-device training may change and
	// with which optimizer settings; nil when the model is not trainable on
	// device.
	FineTuning *FineTuning `json:"fine_tuning,omitempty"`
	// Calibration holds the output calibration and the cascade threshold the
	// hybrid router uses.
	Calibration *Calibration `json:"calibration,omitempty"`
	// ServerVariant names the server-side model this one pairs with in
	// hybrid inference; nil when there is none.
	ServerVariant *ServerVariant `json:"server_variant,omitempty"`
	// Golden holds the self-test run after install.
	Golden *Golden `json:"golden,omitempty"`
	// Provenance records where the model came from and its privacy cost.
	Provenance Provenance `json:"provenance"`

	// MinRuntimeVersion is the oldest Sextant runtime (semver) that can run
	// this bundle; empty means any.
	MinRuntimeVersion string `json:"min_runtime_version,omitempty"`
	// Ops lists the operators the graph uses (OpName form), sorted. Write
	// fills it from the graph.
	Ops []string `json:"ops,omitempty"`
	// DeviceProfiles names the device profiles (device/profile.Profile.Name,
	// e.g. "phone-mid") the bundle was built and validated for.
	DeviceProfiles []string `json:"device_profiles,omitempty"`

	// Unknown holds JSON members this version does not know.
	Unknown map[string]json.RawMessage `json:"-"`
}

// Signature is the model's interface: its inputs and outputs in graph order.
type Signature struct {
	Inputs  []Input  `json:"inputs"`
	Outputs []Output `json:"outputs"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Input is one model input with its privacy class.
type Input struct {
	// Name is the graph input's name.
	Name string `json:"name"`
	// DType is the element type's name as tensor.DType.String prints it,
	// e.g. "float32".
	DType string `json:"dtype"`
	// Shape is the input's shape; symbolic dimensions are strings.
	Shape Shape `json:"shape"`
	// Privacy says whether and how the input may leave the device.
	Privacy PrivacyClass `json:"privacy"`
	// Coarsening is required for a sensitive input and forbidden otherwise:
	// the only form in which the value may leave the device.
	Coarsening *Coarsening `json:"coarsening,omitempty"`
	// Description says what the feature is, for reviewers.
	Description string `json:"description,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Output is one model output.
type Output struct {
	Name        string `json:"name"`
	DType       string `json:"dtype"`
	Shape       Shape  `json:"shape"`
	Description string `json:"description,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// PrivacyClass is an input's privacy class (DESIGN.md, "Contracts").
type PrivacyClass string

// The privacy classes.
const (
	// Private inputs never leave the device in any form, whatever the
	// policy.
	Private PrivacyClass = "private"
	// Sensitive inputs leave the device only through their declared
	// Coarsening.
	Sensitive PrivacyClass = "sensitive"
	// Public inputs may leave the device as they are.
	Public PrivacyClass = "public"
)

// Coarsening is how a sensitive input is reduced before it may leave the
// device. Known kinds:
//
//   - "h3": a place becomes its H3 cell at Resolution (0 to 15). Devices
//     of this build cannot apply it (there is no pure-Go H3), so an h3
//     input stays on device; see docs/design-coarsening.md.
//   - "s2": a place, a (latitude, longitude) pair in degrees on the last
//     axis of a float32 or float64 input, becomes the centre of its S2
//     cell at Level (0 to 30; absent means DefaultS2Level, 12, whose mean
//     cell area of about 5.07 km² matches H3 resolution 7's 5.16 km²).
//   - "time_slot": a time becomes its slot of Minutes (1 to 1440).
//   - "bucket": a number becomes the index of its bucket between Edges
//     (strictly increasing).
//
// A kind a device does not know must be treated as private by it; Validate
// accepts unknown kinds so newer producers can add them.
type Coarsening struct {
	Kind       string `json:"kind"`
	Resolution int    `json:"resolution,omitempty"`
	// Level is the S2 cell level of an "s2" coarsening; nil means
	// DefaultS2Level (a pointer, so that level 0 can be written).
	Level   *int      `json:"level,omitempty"`
	Minutes int       `json:"minutes,omitempty"`
	Edges   []float64 `json:"edges,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Coarsening kinds.
const (
	CoarsenH3       = "h3"
	CoarsenTimeSlot = "time_slot"
	CoarsenBucket   = "bucket"
	CoarsenS2       = "s2"
)

// S2 cell levels: a level-L cell is one of 6·4^L cells covering the sphere.
const (
	// DefaultS2Level is the level of an "s2" coarsening that declares
	// none: mean cell area ≈ 5.07 km² (s2geometry.io, "S2 Cell
	// Statistics"), close to H3 resolution 7's ≈ 5.16 km² that DESIGN.md
	// gives as the example place coarsening.
	DefaultS2Level = 12
	// MaxS2Level is the leaf level (cells of about 0.74 cm²).
	MaxS2Level = 30
)

// S2Level returns the S2 level of an "s2" coarsening: Level, or
// DefaultS2Level when it is unset.
func (c *Coarsening) S2Level() int {
	if c.Level == nil {
		return DefaultS2Level
	}
	return *c.Level
}

// Quantization records the quantization applied to the model.
type Quantization struct {
	// Mode is "int8" (static), "int8-dynamic", "f16", or another producer's
	// mode.
	Mode string `json:"mode"`
	// Tensors maps a quantized tensor's name to its parameters.
	Tensors map[string]QuantParams `json:"tensors,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// QuantParams are one tensor's quantization parameters: real = (q - zero
// point) × scale. Per-tensor quantization has one scale and no Axis;
// per-channel has one scale (and zero point) per index of Axis.
type QuantParams struct {
	Scale     []float64 `json:"scale"`
	ZeroPoint []int64   `json:"zero_point,omitempty"`
	// Axis is the channel axis for per-channel parameters, nil per tensor.
	Axis *int `json:"axis,omitempty"`
	// DType is the quantized element type, e.g. "int8" or "uint8".
	DType string `json:"dtype,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// FineTuning configures on-device training.
type FineTuning struct {
	// Trainable names the parameters (initializers) training may change:
	// exact names or path.Match patterns such as "head/*".
	Trainable []string `json:"trainable"`
	// Optimizer holds the default optimizer settings.
	Optimizer Optimizer `json:"optimizer"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Optimizer holds an optimizer's name and hyperparameters; fields an
// optimizer does not use stay zero.
type Optimizer struct {
	// Name is "sgd", "adam", "adamw" or another optimizer the trainer knows.
	Name         string     `json:"name"`
	LearningRate float64    `json:"lr"`
	Momentum     float64    `json:"momentum,omitempty"`
	Betas        [2]float64 `json:"betas,omitzero"`
	Epsilon      float64    `json:"epsilon,omitempty"`
	WeightDecay  float64    `json:"weight_decay,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Calibration holds the parameters of post-hoc calibration and of the
// on-device/server cascade.
type Calibration struct {
	// Temperature divides the logits before the softmax (temperature
	// scaling); 0 means unset (1).
	Temperature float64 `json:"temperature,omitempty"`
	// CascadeThreshold is the confidence in [0, 1] below which the cascade
	// policy escalates to the server model.
	CascadeThreshold float64 `json:"cascade_threshold,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// ServerVariant is the server-side model paired with this one.
type ServerVariant struct {
	Model   string `json:"model"`
	Version string `json:"version,omitempty"`
	// Inputs are the signature inputs the server model may receive; none
	// may be private, and sensitive ones are sent coarsened.
	Inputs []string `json:"inputs"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Golden is the post-install self-test: run the model on the golden inputs
// and compare with the golden outputs within the tolerance.
type Golden struct {
	// Inputs maps each signature input to a tensor in the table (by
	// convention "golden/in/<input>").
	Inputs []TensorRef `json:"inputs"`
	// Outputs maps signature outputs to expected tensors ("golden/out/<output>").
	Outputs []TensorRef `json:"outputs"`
	// Tolerance bounds the allowed difference.
	Tolerance Tolerance `json:"tolerance"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// TensorRef names a signature input or output and the table tensor holding
// its golden value.
type TensorRef struct {
	Name   string `json:"name"`
	Tensor string `json:"tensor"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Tolerance passes |got - want| <= Abs + Rel × |want| elementwise.
type Tolerance struct {
	Abs float64 `json:"abs"`
	Rel float64 `json:"rel"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Provenance records the model's lineage and privacy cost.
type Provenance struct {
	// DataSnapshot is the content hash of the training data's manifest.
	DataSnapshot string `json:"data_snapshot,omitempty"`
	// TrainingRun identifies the training run that produced the weights.
	TrainingRun string `json:"training_run,omitempty"`
	// FederatedRounds lists the federated rounds whose updates the model
	// contains.
	FederatedRounds []string `json:"federated_rounds,omitempty"`
	// Privacy is the differential-privacy cost spent on the training data;
	// nil when no DP guarantee was recorded.
	Privacy *PrivacyCost `json:"privacy,omitempty"`
	// Source is the content hash of the model this bundle was converted
	// from, e.g. "sha256:…" of an ONNX file.
	Source string `json:"source,omitempty"`
	// CreatedAt is when the bundle was produced.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Producer is the tool that wrote the bundle.
	Producer Producer `json:"producer,omitzero"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// PrivacyCost is an (ε, δ) differential-privacy guarantee.
type PrivacyCost struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
	// Accountant names how it was computed, e.g. "rdp-sampled-gaussian".
	Accountant string `json:"accountant,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}

// Producer names the tool and version that wrote a bundle.
type Producer struct {
	Tool    string `json:"tool"`
	Version string `json:"version,omitempty"`

	Unknown map[string]json.RawMessage `json:"-"`
}
