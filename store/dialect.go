package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// dialect is what differs between the two databases; the queries do not.
type dialect struct {
	name string
	// migrations is the directory of this dialect's migrations in
	// migrationFS.
	migrations string
	// lockMigrations runs first in the migration transaction to keep
	// replicas from migrating at once ("" when BEGIN already locks).
	lockMigrations string
	// isUnique reports a unique or primary-key violation.
	isUnique func(error) bool
}

// SQLite extended result codes (sqlite.org/rescode.html).
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

var sqliteDialect = &dialect{
	name:       "sqlite",
	migrations: "migrations/sqlite",
	isUnique: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		return e.Code() == sqliteConstraintUnique || e.Code() == sqliteConstraintPrimaryKey
	},
}

// migrationLockKey is the PostgreSQL advisory-lock key of migrations, an
// arbitrary constant that no other Sextant lock may use.
const migrationLockKey = "7310582769307444077"

var postgresDialect = &dialect{
	name:           "postgres",
	migrations:     "migrations/postgres",
	lockMigrations: "SELECT pg_advisory_xact_lock(" + migrationLockKey + ")",
	isUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505" // unique_violation
	},
}
