// Package dataset reads training and evaluation data in the formats of
// DESIGN.md "Contracts": a directory of NumPy .npy files, one per column and
// named after it, or a Parquet file whose columns are named after the
// model's inputs. The first axis of every column is the example: a scalar
// feature is [N], a vector or sequence [N, L] (a Parquet fixed-size list
// column), and labels are ordinary columns chosen by name.
package dataset
