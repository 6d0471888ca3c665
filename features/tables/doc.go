// Package tables turns a mobility data set directory (package mobility,
// "Data sets") into the flagship models' training and evaluation tables:
// Parquet files whose columns are named after the model inputs (DESIGN.md,
// "Contracts"), computed with package features — the same code the phone
// runs — so training and the device cannot drift.
//
// Each kind writes train.parquet and test.parquet into the output
// directory. The test split is the last HoldoutWeeks whole weeks of the
// simulation: an example is held out when the event it predicts (the next
// arrival, or the trip's departure) falls in them. Histories always cover
// everything before the prediction, so a held-out example still sees the
// user's training weeks. Rows are in user order, then time order.
//
// Users are computed in parallel (Config.Workers, default GOMAXPROCS) in
// chunks of whole users cut by the input alone, each chunk a row group of
// each split, so the files are the same bytes whatever the number of
// workers, and memory stays bounded whatever the population
// (parallel.go, encode.go).
//
// Besides the inputs and the labels, the tables carry columns for slicing
// and baselines (not read by the models): user_id, explorer (1 for
// explorers), history_visits, next_place and markov (whole-history
// first-order Markov scores) for next destination; user_id, expected_s and
// travel_s for ETA. Next destination also writes coverage.parquet
// (UncoveredFile): each user's held-out examples, written and dropped.
package tables
