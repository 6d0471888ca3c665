// Package client is the device half of Sextant's federated learning: what a
// phone runs for one round of a federated task. It decides by its own coin
// flip whether to join a round (Join: the Poisson sampling of clients the
// coordinator's privacy accounting assumes), trains the task's trainable
// parameters on the device's own examples with package train (Train), clips
// the update new − old to the plan's L2 norm, and hands it to secure
// aggregation (Secure: fixed-point encoding and masking through
// secagg/client), so the coordinator only ever sees the sum over clients.
// Sending an update in the clear (Update.Cleartext) is refused unless the
// plan explicitly enables the simulation-only plaintext mode.
//
// The package links only the standard library and device-side Sextant
// packages (graph, tensor, train, secagg); the coordinator is package fl.
package client
