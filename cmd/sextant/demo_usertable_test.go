package main

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// TestUserTable: device i reads the rows of the i-th user id in ascending
// order, whatever the file's order of users, limited as asked; a device
// beyond the users has none.
func TestUserTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.parquet")
	ids := []int64{9, 9, 9, 2, 5, 5}
	x := []float32{0, 1, 2, 3, 4, 5}
	if err := dataset.WriteParquet(path, []string{"user_id", "x"}, []*tensor.Tensor{tensor.From(ids, 6), tensor.From(x, 6)}); err != nil {
		t.Fatal(err)
	}
	u, err := openUserTable(path, []string{"x"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer u.close()
	want := [][]float32{{3}, {4, 5}, {0, 1, 2}, nil}
	for i, w := range want {
		if u.rows(i) != len(w) {
			t.Errorf("device %d: %d rows, want %d", i, u.rows(i), len(w))
		}
		d, err := u.read(i, -1)
		if err != nil {
			t.Fatal(err)
		}
		if w == nil {
			if d != nil {
				t.Errorf("device %d read %d rows, want none", i, d.N)
			}
			continue
		}
		col, _ := d.Column("x")
		if got := tensor.Data[float32](col); !reflect.DeepEqual(got, w) {
			t.Errorf("device %d: x = %v, want %v", i, got, w)
		}
		if _, ok := d.Column("user_id"); ok {
			t.Errorf("device %d read a column it did not ask for", i)
		}
	}
	d, err := u.read(2, 2)
	if err != nil || d.N != 2 {
		t.Fatalf("read(2, 2) = %v, %v", d, err)
	}
}
