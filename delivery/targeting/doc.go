// Package targeting decides which devices a rollout or an experiment
// reaches (DESIGN.md part 5): targeting rules over device attributes, and
// deterministic, sticky assignment by hashing a salted unit id.
//
// The device SDK links this package and computes the same assignment as
// the server, so it imports the standard library only (a test checks the
// android/arm64 import graph) and its hash is specified exactly.
//
// # Rules
//
// A Rule is JSON: leaves over device class, OS name and version range, app
// version range (CompareVersions: dotted, semver-ish), region, locale
// (BCP 47 prefix) and custom attributes, combined with all, any and not.
// Validate before use; Match does not allocate.
//
// # Assignment
//
// Bucket(salt, unit) = ⌊XXH64(unit, seed=XXH64(salt, 0)) · 10000 / 2⁶⁴⌋,
// a bucket in [0, 10000) (one bucket is a basis point). Nothing is stored:
//
//   - A rollout at share p admits units with bucket < p under its
//     membership salt (Rollout), so raising p never removes a device.
//   - Variants are chosen under a separate split salt (Split), so who is
//     in and which variant they get are independent; Plan.Validate refuses
//     a salt used for two purposes.
//   - A holdout is a membership whose units get no experiment; a Layer
//     partitions units among mutually exclusive experiments by the
//     layer salt's buckets.
//   - Stopping and restarting changes nothing; only a new salt reshuffles.
//
// testdata/assign_golden.json pins the assignment of 10⁶ ids, computed by
// testdata/gen_golden.py with the reference C xxHash library; any SDK
// reimplementation checks itself against it.
package targeting
