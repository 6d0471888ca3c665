// Package secagg holds what both halves of secure aggregation share: the
// typed wire messages of each round step and their bounded codec, the
// cryptographic building blocks, Shamir secret sharing over GF(2^61−1), the
// neighbour graph of SecAgg+, and the fixed-point encoding of updates with its
// overflow accounting. The client half (package secagg/client) is what a
// phone runs and links only this package and the standard library; the server
// half (package secagg/server) runs on the coordinator.
//
// # Protocol
//
// The protocol is that of Bonawitz et al., "Practical Secure Aggregation for
// Privacy-Preserving Machine Learning", CCS 2017 (§4 for the intuition, §5 and
// its Figure 4 for the detailed rounds), with five steps:
//
//   - 0 AdvertiseKeys: each client sends two fresh X25519 public keys, c_pk
//     (to encrypt shares) and s_pk (to agree on pairwise masks).
//   - 1 ShareKeys: each client draws a self-mask seed b_u, splits b_u and its
//     s_sk t-of-k among its neighbours with Shamir's scheme, and seals each
//     neighbour's pair of shares with AES-256-GCM under a key derived with
//     HKDF-SHA256 from the X25519 agreement of c-keys.
//   - 2 MaskedInputCollection: each client sends y_u = x_u + PRG(b_u) +
//     Σ_{v>u} PRG(s_uv) − Σ_{v<u} PRG(s_uv) over Z_{2^32}, the s_uv agreed with
//     the neighbours v that completed step 1 (double masking, §4).
//   - 3 ConsistencyCheck (optional; the active-adversary variant of §5/§6):
//     the server announces the survivor set U3 and each client signs it with
//     its Ed25519 identity key; in step 4 a client answers only when at least
//     t of its neighbours signed the same set, so the server cannot claim a
//     client both dropped (to get s_sk) and survived (to get b_u).
//   - 4 Unmasking: each client opens the shares it holds and returns, for
//     every neighbour, the share of b_v if v survived step 2 or the share of
//     s_sk if it dropped — never both for one neighbour. The server rebuilds
//     the secrets, removes the self masks of survivors and the pairwise masks
//     that dropped clients left in the survivors' inputs, and obtains Σ x_u.
//
// SecAgg+ (Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic
// Overhead", CCS 2020) replaces the complete graph with a Harary graph of even
// degree k on a random labelling of the clients (their §3–4); a client then
// agrees keys, shares secrets and expands masks for k neighbours instead of
// n−1, so its cost grows with k = O(log n). Params.Degree selects it.
//
// # Messages
//
// Every message carries a Header (round id, sender id, step). Marshal with
// AppendBinary (append-style) and parse with Unmarshal, which bounds every
// count and length by Limits before allocating and rejects trailing bytes.
// Errors callers branch on are sentinels (ErrMalformed, ErrWrongRound,
// ErrWrongStep, ErrReplay, …) wrapped in a *ProtocolError naming the step and
// sender.
//
// # Randomness
//
// Every random draw (private keys, seeds, Shamir coefficients, the graph
// labelling) reads an injected io.Reader: a seeded ChaCha8 in tests and
// simulations, crypto/rand.Reader in production (the default when nil). Keys
// are built from those bytes (X25519 as RFC 7748 clamps them) and
// ed25519.NewKeyFromSeed, so seeded runs are reproducible.
package secagg
