// Package eval judges a model on a data set (DESIGN.md part 8): a registry
// of metrics computed per example, slices by any column, a candidate against
// a baseline with paired bootstrap confidence intervals, gates read from
// YAML, and latency, memory and energy under device profiles. Reports are
// JSON for machines and HTML with inline SVG for people.
//
// # Flow
//
// Evaluate runs the candidate (and the baseline) over every example, turns
// their scores into per-example metric values once, and reuses those values
// for every slice and every bootstrap replicate. Gates then compare the
// results with thresholds.
//
// # Conventions
//
// Ranking and classification models output one score per candidate or class,
// [batch, K]; the label is the index of the true one in [0, K). Regression
// models output one value per example. Each metric's doc comment defines it
// exactly, with a reference where conventions differ.
package eval
