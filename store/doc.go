// Package store persists the delivery domain: it implements
// delivery.Store over SQLite (modernc.org/sqlite, pure Go, the embedded
// default) and PostgreSQL (github.com/jackc/pgx/v5, the scale-out choice),
// and delivery.BlobStore over a file system (Blobs). It also implements
// rollout.Persister, keeping each staged rollout's state as a JSON document
// so a restarted server resumes its rollouts.
//
// # One implementation, two dialects
//
// Both databases are reached through database/sql (pgx through its stdlib
// adapter), so every query is written once, with $N placeholders that both
// drivers accept, and the one test suite exercises the same code on both.
// What differs lives in a dialect value: the connection setup, the
// migration directory, the migration lock and how a unique-constraint
// violation is recognized. Times are stored as Unix microseconds.
//
// # Migrations
//
// Numbered SQL files per dialect (migrations/<dialect>/NNNN_name.sql) are
// embedded in the binary. Open applies the ones not yet recorded in the
// schema_migrations table, all in one transaction, under a lock (BEGIN
// IMMEDIATE on SQLite, a transaction-scoped advisory lock on PostgreSQL), so
// replicas starting together apply each exactly once and a restart applies
// nothing.
//
// # Publishing under concurrency
//
// PublishVersion locks the model's row with its first statement (an UPDATE
// that also hands out the version's sequence number), then compares the
// new version with the latest in Go (semver precedence) and inserts. On
// PostgreSQL the row lock serializes publishers of one model, and at READ
// COMMITTED the waiting publisher re-reads the committed latest; on SQLite
// every transaction begins IMMEDIATE, taking the database's write lock.
// A unique key on (model, version) backs both.
package store
