// Package delivery is the domain of model delivery: the registry of models,
// versions, artifacts and lineage; the devices that fetch them; the tokens
// that authorize admin calls; the audit log; and the errors every adapter
// reports in (DESIGN.md part 4).
//
// It holds types, rules and the service interfaces only, and performs no
// I/O. Adapters live beside it: package store implements the services over
// SQLite and PostgreSQL and the blob store over a file system; the HTTP
// server (package server) maps this package's errors to status codes once
// (see Code) and never shows a client anything but a domain message.
//
// The device side links this package (the device SDK may use its types and
// error codes), so it must stay free of database and network imports.
//
// # Rules kept here
//
//   - A model's versions are semver (bundle.ParseVersion) and strictly
//     increase in publish order: CheckIncreases reports a *VersionError
//     (errors.Is ErrVersionNotIncreasing) for one that does not.
//   - A version's parent, when set, precedes it.
//   - Secrets (admin tokens, device credentials) are never stored: only
//     their SHA-256 (HashSecret) is, and lookups are by that hash.
package delivery
