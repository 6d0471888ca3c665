package router

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// InferPath is the server route's prefix; the model's name follows it.
const InferPath = "/v1/infer/"

// ContentType is the media type of requests and responses.
const ContentType = "application/json"

// MaxWireElements bounds one tensor's element count on the wire.
const MaxWireElements = 1 << 22

// WireTensor is a tensor on the wire: its dtype name (tensor.DType.String),
// its shape, and its elements row-major, little-endian, standard base64.
type WireTensor struct {
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Data  string `json:"data"`
}

// InferRequest is the body of POST /v1/infer/{model}. Inputs is keyed by
// input name; encoding/json writes map keys sorted, so equal requests are
// equal bytes.
type InferRequest struct {
	// Version asks for a version of the model; empty means its current one.
	Version string                `json:"version,omitempty"`
	Inputs  map[string]WireTensor `json:"inputs"`
}

// InferResponse is the answer to an InferRequest.
type InferResponse struct {
	Model   string                `json:"model"`
	Version string                `json:"version"`
	Outputs map[string]WireTensor `json:"outputs"`
}

// EncodeTensor converts t to its wire form. String tensors are refused.
func EncodeTensor(t *tensor.Tensor) (WireTensor, error) {
	if t.DType == tensor.String || t.DType.Size() == 0 {
		return WireTensor{}, fmt.Errorf("router: dtype %s cannot go on the wire", t.DType)
	}
	n := t.Shape.NumElements() * t.DType.Size()
	if len(t.Raw) < n {
		return WireTensor{}, fmt.Errorf("router: tensor has %d bytes, its shape needs %d", len(t.Raw), n)
	}
	shape := make([]int, len(t.Shape))
	copy(shape, t.Shape)
	return WireTensor{DType: t.DType.String(), Shape: shape, Data: base64.StdEncoding.EncodeToString(t.Raw[:n])}, nil
}

// ErrWire is wrapped by errors about malformed wire tensors.
var ErrWire = errors.New("malformed tensor")

// DecodeTensor converts a wire tensor back, checking that its data length
// matches its dtype and shape. Errors describe the problem without echoing
// data.
func DecodeTensor(w WireTensor) (*tensor.Tensor, error) {
	dt, err := tensor.ParseDType(w.DType)
	if err != nil || dt == tensor.String || dt.Size() == 0 {
		return nil, fmt.Errorf("%w: unsupported dtype %q", ErrWire, w.DType)
	}
	if len(w.Shape) > 8 {
		return nil, fmt.Errorf("%w: rank %d exceeds 8", ErrWire, len(w.Shape))
	}
	n := 1
	for _, d := range w.Shape {
		if d < 0 || (d > 0 && n > MaxWireElements/d) {
			return nil, fmt.Errorf("%w: shape %v is negative or too large", ErrWire, w.Shape)
		}
		n *= d
	}
	if base64.StdEncoding.DecodedLen(len(w.Data)) > n*dt.Size()+3 {
		return nil, fmt.Errorf("%w: data longer than shape %v of %s", ErrWire, w.Shape, dt)
	}
	raw, err := base64.StdEncoding.DecodeString(w.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: data is not base64", ErrWire)
	}
	if len(raw) != n*dt.Size() {
		return nil, fmt.Errorf("%w: %d data bytes, shape %v of %s needs %d", ErrWire, len(raw), w.Shape, dt, n*dt.Size())
	}
	t := tensor.New(dt, w.Shape...)
	copy(t.Raw, raw)
	return t, nil
}
