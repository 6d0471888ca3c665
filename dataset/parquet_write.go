package dataset

import (
	"fmt"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/sextant-ml/sextant/tensor"
)

// WriteParquet writes columns (first axis = example) to a Parquet file in
// the layout ReadParquet reads: [N] columns as required scalars, [N, L]
// columns as LIST columns of L elements. Float32, float64, int64, int32
// (written as INT64) and bool are supported.
func WriteParquet(path string, names []string, cols []*tensor.Tensor) error {
	d, err := New(names, cols)
	if err != nil {
		return err
	}
	group := parquet.Group{}
	for _, n := range names {
		t := d.cols[n]
		var typ parquet.Type
		switch t.DType {
		case tensor.Float32:
			typ = parquet.FloatType
		case tensor.Float64:
			typ = parquet.DoubleType
		case tensor.Int64, tensor.Int32:
			typ = parquet.Int64Type
		case tensor.Bool:
			typ = parquet.BooleanType
		default:
			return fmt.Errorf("dataset: column %q: cannot write %v to Parquet", n, t.DType)
		}
		switch len(t.Shape) {
		case 1:
			group[n] = parquet.Leaf(typ)
		case 2:
			group[n] = parquet.List(parquet.Leaf(typ))
		default:
			return fmt.Errorf("dataset: column %q: a rank-%d column has no Parquet layout (want [N] or [N, L])", n, len(t.Shape))
		}
	}
	schema := parquet.NewSchema("examples", group)
	type leaf struct {
		t      *tensor.Tensor
		width  int
		maxDef int
	}
	leaves := make([]leaf, len(names))
	for _, p := range schema.Columns() {
		lc, _ := schema.Lookup(p...)
		t := d.cols[p[0]]
		leaves[lc.ColumnIndex] = leaf{t: t, width: max(1, t.Len()/max(1, d.N)), maxDef: lc.MaxDefinitionLevel}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	w := parquet.NewWriter(f, schema)
	row := parquet.Row{}
	for i := 0; i < d.N; i++ {
		row = row[:0]
		for c, l := range leaves {
			for k := 0; k < l.width; k++ {
				rep := 0
				if k > 0 {
					rep = 1
				}
				row = append(row, valueAt(l.t, i*l.width+k).Level(rep, l.maxDef, c))
			}
		}
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			f.Close()
			return fmt.Errorf("dataset: %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("dataset: %s: %w", path, err)
	}
	return f.Close()
}

func valueAt(t *tensor.Tensor, i int) parquet.Value {
	switch t.DType {
	case tensor.Float32:
		return parquet.FloatValue(tensor.Data[float32](t)[i])
	case tensor.Float64:
		return parquet.DoubleValue(tensor.Data[float64](t)[i])
	case tensor.Int64:
		return parquet.Int64Value(tensor.Data[int64](t)[i])
	case tensor.Int32:
		return parquet.Int64Value(int64(tensor.Data[int32](t)[i]))
	}
	return parquet.BooleanValue(t.Raw[i] != 0)
}
