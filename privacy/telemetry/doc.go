// Package telemetry is the device side of Sextant's privatized telemetry:
// declared stream schemas, the encoder that privatizes a report for a
// declared stream and nothing else, the per-device privacy ledger that
// enforces each stream's daily budget, and the compact binary wire format of
// a report (DESIGN.md §7, "Minimal collection" and "Local DP telemetry").
//
// # Schemas
//
// Every stream is declared (Schema): a name, typed fields, a privacy
// mechanism (cms or hcms from package ldp, or none for public counters whose
// fields are all public, or central for values the server aggregates
// under central DP), ε per report, a daily ε budget and a retention
// duration after which the server deletes raw reports. Schema.Validate
// rejects incomplete or inconsistent declarations; ParseRegistry reads a
// JSON declaration file (retention as "168h") and refuses unknown keys. The encoder refuses an
// undeclared stream (*UnknownStreamError), an undeclared field
// (*UndeclaredFieldError), a missing field or a value of the wrong type
// (*FieldError).
//
// # What a report carries
//
// A report's wire form is: format version, mechanism, stream name, and the
// LDP payload (CMS: row and m bits; HCMS: row, column and one bit; none: the
// public item). It carries no device identifier, no timestamp and no
// sequence number; given the generator's state its bytes are deterministic.
// Parse bounds every length (Limits) and accepts only canonical encodings, so
// Append(Parse(b)) == b for every accepted b (fuzzed).
//
// # Budget
//
// The Ledger records the ε spent per stream per day (UTC days of an injected
// Clock) in a JSON file written atomically (temporary file, fsync, rename),
// and refuses a report that would take the day's total past the stream's
// budget with a *BudgetExceededError. The spend is persisted before the
// report is returned, so a crash can lose budget but never overspend it.
// Days older than the ledger's horizon (RetainDays) are pruned.
package telemetry
