package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
)

// TestFirstUsers: a table of more users than asked for is cut to its
// first users' rows, whole and in order; a smaller one, or one not
// grouped by user, is used as it is.
func TestFirstUsers(t *testing.T) {
	dir := t.TempDir()
	// Users 7, 3, 9, 4 with 2, 1, 3, 2 rows; x is the row number.
	ids := tensor.From([]int64{7, 7, 3, 9, 9, 9, 4, 4}, 8)
	x := tensor.New(tensor.Float32, 8, 2)
	for i := range 8 {
		tensor.Data[float32](x)[2*i] = float32(i)
	}
	src := filepath.Join(dir, "test.parquet")
	if err := dataset.WriteParquet(src, []string{"user_id", "x"}, []*tensor.Tensor{ids, x}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "test-sample.parquet")
	tab, err := firstUsers(src, dst, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tab.path != dst || tab.users != 3 || tab.of != 4 || tab.rows != 6 || tab.total != 8 || !tab.sampled() {
		t.Fatalf("sample %+v, want the first 3 of 4 users, 6 of 8 rows, in %s", tab, dst)
	}
	d, err := dataset.Read(dst)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := d.Column("user_id")
	gx, _ := d.Column("x")
	if !slices.Equal(tensor.Data[int64](got), []int64{7, 7, 3, 9, 9, 9}) || !slices.Equal(gx.Raw, x.Raw[:6*8]) {
		t.Errorf("sample rows %v / %v", tensor.Data[int64](got), tensor.Data[float32](gx))
	}
	if tab, err := firstUsers(src, filepath.Join(dir, "all.parquet"), 4); err != nil || tab.path != src || tab.sampled() || tab.note() != "" {
		t.Errorf("4 of 4 users: %+v, %v; want the table itself", tab, err)
	}
	mixed := filepath.Join(dir, "mixed.parquet")
	if err := dataset.WriteParquet(mixed, []string{"user_id", "x"}, []*tensor.Tensor{tensor.From([]int64{1, 2, 1}, 3), tensor.New(tensor.Float32, 3, 2)}); err != nil {
		t.Fatal(err)
	}
	if tab, err := firstUsers(mixed, filepath.Join(dir, "m.parquet"), 1); err != nil || tab.path != mixed || tab.sampled() {
		t.Errorf("ungrouped: %+v, %v; want the table itself", tab, err)
	}
}
