// Package sdk is the one entry point a host app holds for on-device inference
// (DESIGN.md part 6; issue 9): Open with a Config whose zero value works,
// Predict, Availability and Close.
//
// # Models
//
// Open loads every model the device's store holds (device/store) and routes
// each Predict through device/router, which answers on device, from the
// server or from its answer cache; the Result says which, with the model
// version and the latency. A model is in one of three states:
//
//   - Available: a verified bundle is installed and loaded; Predict answers.
//   - Downloadable: the server offered it at the last check-in and it is not
//     installed yet. Predict returns an error wrapping ErrDownloading at once
//     and asks the background updater for a check-in, which downloads it.
//   - Unavailable: neither; Predict returns an error wrapping ErrUnavailable.
//
// # Updates
//
// When a server is configured (Config.ServerURL, or Config.Verifier), Open
// starts one background goroutine that checks in at once and then every
// Config.CheckInterval (backing off after failures), installs what the signed
// metadata offers through device/updater, and swaps newly committed versions
// into the router. Close stops it, waits for it, and closes every model.
//
// # Dependencies
//
// The SDK links no net/http: the host passes its network stack as a
// transport.Getter that also implements transport.Poster (a pure-Go program
// uses device/transport/httptransport). Time comes from Config.Clock and
// diagnostics go to Config.Logger, which is silent when nil.
package sdk
