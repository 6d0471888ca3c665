package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/sextant-ml/sextant/dataset"
	"github.com/sextant-ml/sextant/tensor"
	"github.com/sextant-ml/sextant/train"
)

// trainData is `sextant train`'s table: in memory, or — user-level DP-SGD
// on a Parquet table grouped by the user column, as `sextant data
// features` writes them — read a sampled user's rows at a time, so that
// memory follows the batch and not the table.
type trainData struct {
	// all is the whole table, nil when it is read by user.
	all *dataset.Dataset
	// head is the whole table, or the first user's rows: the columns'
	// types and per-example shapes.
	head *dataset.Dataset
	// labels is the whole labels column when the table is read by user and
	// an architecture's classes come from it; nil otherwise.
	labels *tensor.Tensor
	rows   int
	pf     *dataset.ParquetFile
	groups *dataset.Groups
}

// openTrainData opens f.data: by user when f asks for user-level DP-SGD on
// a Parquet file grouped by f.dpUser whose columns would take more than
// f.streamAbove bytes in memory, else whole (a user's rows cost a few
// milliseconds to read, a whole small table less a user).
func openTrainData(f *trainFlags) (*trainData, error) {
	if f.dpUser != "" && f.dpNoise > 0 && f.dpClip > 0 {
		if st, err := os.Stat(f.data); err == nil && !st.IsDir() && strings.HasSuffix(f.data, ".parquet") {
			td, err := openByUser(f)
			if err == nil {
				return td, nil
			}
			if td == nil {
				return nil, err
			}
			// Not grouped by the user column: read it whole.
		}
	}
	d, err := dataset.Read(f.data)
	if err != nil {
		return nil, err
	}
	return &trainData{all: d, head: d, rows: d.N}, nil
}

// openByUser indexes the Parquet table f.data by f.dpUser. A table that
// cannot be indexed that way gives a non-nil *trainData with the error, so
// the caller reads it whole; an unreadable one gives nil.
func openByUser(f *trainFlags) (*trainData, error) {
	pf, err := dataset.OpenParquet(f.data)
	if err != nil {
		return nil, err
	}
	groups, err := pf.Index(f.dpUser)
	if err != nil {
		pf.Close()
		return &trainData{}, err
	}
	td := &trainData{pf: pf, groups: groups, rows: int(groups.Rows())}
	if len(groups.Keys) == 0 {
		pf.Close()
		return &trainData{}, fmt.Errorf("train: %s has no examples", f.data)
	}
	lo, hi := groups.Range(0)
	if td.head, err = pf.ReadRows(nil, lo, hi); err != nil {
		pf.Close()
		return nil, err
	}
	// The table in memory is about its rows times the first user's bytes
	// a row (the file is compressed: its size says less).
	var rowBytes int64
	for _, n := range td.head.Columns() {
		c, _ := td.head.Column(n)
		rowBytes += int64(len(c.Raw))
	}
	if rowBytes/max(hi-lo, 1)*groups.Rows() <= f.streamAbove {
		pf.Close()
		return &trainData{}, fmt.Errorf("train: %s fits in memory", f.data)
	}
	if f.archName != "" && f.loss == "ce" {
		if _, ok := td.head.Column(f.labels); ok {
			d, err := pf.ReadRows([]string{f.labels}, 0, groups.Rows())
			if err != nil {
				pf.Close()
				return nil, err
			}
			td.labels, _ = d.Column(f.labels)
		}
	}
	return td, nil
}

func (td *trainData) close() {
	if td.pf != nil {
		td.pf.Close()
	}
}

// parquetUsers is a train.UserSource over a trainData read by user: user
// u's rows of the columns the trainer reads, lined up by conv.
type parquetUsers struct {
	td   *trainData
	cols []string
	conv func(*dataset.Dataset) ([]*tensor.Tensor, error)
}

var _ train.UserSource = (*parquetUsers)(nil)

func (p *parquetUsers) Users() int { return len(p.td.groups.Keys) }

func (p *parquetUsers) User(u int) ([]*tensor.Tensor, error) {
	lo, hi := p.td.groups.Range(u)
	d, err := p.td.pf.ReadRows(p.cols, lo, hi)
	if err != nil {
		return nil, err
	}
	return p.conv(d)
}

// trainerColumns are the table's columns the trainer reads: its data
// inputs by name, the target from labels.
func trainerColumns(tr *train.Trainer, labels string) []string {
	var cols []string
	for _, n := range tr.DataNames() {
		switch n {
		case "dp_mask":
		case "labels", "target":
			cols = append(cols, labels)
		default:
			cols = append(cols, n)
		}
	}
	return cols
}
