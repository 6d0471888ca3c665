// Package fl is the coordinator of Sextant's federated learning: the server
// half of a federated task's rounds. The device half is package fl/client,
// which links no server code.
//
// A Task names the model, the devices' Plan (fl/client), the population, the
// devices wanted per round, the minimum number of reports, the round deadline,
// the over-selection factor and the server optimizer (FedAvg, FedAvgM,
// FedAdam, FedYogi: Reddi et al. 2021).
//
// # Rounds
//
// A Coordinator drives one task through rounds on an injected clock:
//
//	selection → configuration → reporting → aggregation → commit
//	    └──────────── too few devices, deadline, error ───→ fail → retry
//
// Selection: each eligible device flips its own coin and joins with
// probability q = target·over-selection / population (client.Join), then
// checks in. The coordinator never picks or caps the set, so the clients of a
// round are a Poisson sample and the subsampled-Gaussian accounting of
// DP-FedAvg is honest for how they were actually chosen. Configuration: the
// joined devices get the plan, the global weights and the round's secure
// aggregation parameters. Reporting: the devices train, clip and mask their
// updates; the secagg server (secagg/server) collects the messages of each
// step and tolerates dropouts. Aggregation: the sum of clipped updates is
// noised with N(0, (z·C)²) per coordinate (privacy/noise), divided by the
// fixed denominator q·population (McMahan et al. 2018, "Learning
// Differentially Private Recurrent Language Models", the fixed-denominator
// estimator f̃_f), and applied by the server optimizer. Commit: the global
// weights, optimizer state and round history are persisted, and the round's
// (q, z) is recorded in the privacy ledger (privacy/ledger), which composes
// the task's (ε, δ) with the RDP accountant.
//
// A round that ends with fewer reports than the task's minimum, or passes its
// deadline, fails cleanly: nothing is applied or spent, and the next Begin
// starts a fresh attempt with a new secagg round id. The coordinator's state
// is a JSON file written atomically after every transition; after a restart a
// round that was in flight is failed (its secagg secrets were in memory) and
// retried, and committed rounds, weights and optimizer state are as they were.
//
// Without secure aggregation the coordinator accepts plaintext updates only
// when the task's plan enables PlaintextForSimulation.
//
// # Serving devices
//
// A Service puts a coordinator behind the device protocol of fl/client.Conn:
// status (with pace steering: a device not in the round is told when to come
// back, spread over the next selection window), check-in to a seat with a
// token, configuration, the secure-aggregation steps and leave. RunRound
// drives one round and closes each step once every expected device has
// answered or left, or at the step timeout. LocalConn serves it in process
// (package fl/flsim, `sextant fl simulate`); package server serves it over
// HTTP. With Task.DistributedDP the devices add the noise before masking
// (ddp.go, Kairouz et al. 2021).
package fl
