// Package sextant is the root of Sextant, a Go platform for on-device machine
// learning in a maps client. It holds no code of its own, only the
// repository-wide tests that keep the tree honest: every package has a doc
// comment, and a phone build of the device side links nothing server-only and
// stays under its size budget.
//
// See README.md for a tour and docs/architecture.md for how the parts fit.
package sextant
