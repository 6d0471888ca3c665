package peer

import (
	"errors"
	"strings"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/onnx"
	"github.com/sextant-ml/sextant/tensor"
)

// detModel is a one-node model (Det of a 4×4 matrix) that ONNX Runtime runs
// and Sextant, so far, does not.
func detModel() ([]byte, error) {
	b := graph.NewBuilder("det", 17)
	b.Input("x", tensor.Float32, 4, 4)
	b.Node("Det", []string{"x"}, []string{"d"}, nil)
	b.Node("Unsqueeze", []string{"d", b.Constant(tensor.From([]int64{0}, 1))}, []string{"y"}, nil)
	b.Output("y")
	return onnx.Encode(b.Graph())
}

func TestNewSextantUnsupported(t *testing.T) {
	data, err := detModel()
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSextant(data, 1)
	if err == nil {
		t.Skip("Sextant now runs Det; pick another operator it lacks")
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) || strings.Join(ue.Ops, ",") != "Det" {
		t.Fatalf("err %v (%T), want UnsupportedError for Det", err, err)
	}
	if !strings.Contains(ue.Error(), "unsupported by Sextant: Det") {
		t.Errorf("message %q", ue.Error())
	}
}

func TestLargeMLPDeterministic(t *testing.T) {
	a, err := LargeMLP()
	if err != nil {
		t.Fatal(err)
	}
	b, err := LargeMLP()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("LargeMLP differs between calls")
	}
	g, err := onnx.Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	var weights int
	for _, v := range g.Initializers {
		weights += v.Const.Len()
	}
	if want := 256*1024 + 1024 + 1024*1024 + 1024 + 1024*256 + 256; weights != want {
		t.Errorf("%d parameters, want %d", weights, want)
	}
}
