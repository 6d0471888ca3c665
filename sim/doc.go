// Package sim is the fleet simulator behind `sextant demo --fleet`
// (DESIGN.md part 9; issue 11): it starts a real server in-process (SQLite
// and file blobs in a temporary directory, signing keys generated with
// delivery/signing), publishes and signs a bundle, and runs N simulated
// devices against it over loopback HTTP.
//
// Only the server and the fleet are simulated; each device is a real SDK
// instance: its own device/store in its own directory, a device/updater
// verifying both Uptane repositories through updater.NewUptaneVerifier over
// httptransport, and a device/router answering predictions on device. A
// device's latency is the host's measured Predict latency scaled by its
// profile's SpeedFactor (device/profile), never a clock's time.
//
// [Run] enrolls the fleet, installs v1 on every device, runs K predictions
// per device, then publishes v2, sets it current and lets devices check in
// in rounds (each device checks in with probability CheckInProb per round),
// recording the fraction of the fleet on v2 after each round. The [Report]
// holds counts, install outcomes, convergence, per-profile latency
// percentiles and bytes downloaded.
package sim
