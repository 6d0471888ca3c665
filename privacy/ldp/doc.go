// Package ldp is Sextant's local-differential-privacy telemetry: the Count
// Mean Sketch (CMS) and Hadamard Count Mean Sketch (HCMS) of Apple's
// "Learning with Privacy at Scale" (2017), and its Sequence Fragment Puzzle
// (SFP) for discovering frequent strings that are in no dictionary.
//
// A device holding item d picks a row j uniformly among k hash functions.
// CMS sends the m-bit vector with +1 at h_j(d) and -1 elsewhere, each bit
// flipped with probability 1/(1+e^(ε/2)), plus j. HCMS sends one bit: column
// l (uniform in m, a power of two) of the Hadamard transform of e_{h_j(d)},
// flipped with probability 1/(1+e^ε), plus j and l. Reports carry no device
// identifier; the randomness is a *rand.Rand the caller injects (seeded in
// tests, noise.CryptoRand in production).
//
// The server debiases each report into its row (CMS: k(c/2·v + 1/2) with
// c = (e^(ε/2)+1)/(e^(ε/2)-1); HCMS: k·c·bit into column l, c = (e^ε+1)/(e^ε-1),
// then a Hadamard transform of each row) and estimates an item's count as
//
//	f̂(d) = m/(m-1) · ( (1/k) Σ_j M[j, h_j(d)] - n/m ),
//
// unbiased when the hash functions are drawn at random. (A CMS sketch stores,
// per cell, the number of reports with that bit set and, per row, the number
// of reports, and applies the debiasing when a cell is read; a CMS device
// visits only the flipped bits, drawing geometric gaps between them.)
//
// # Sequence Fragment Puzzle
//
// SFP (see the type's comment for the protocol) sends, besides the
// fragment position, a CMS report of puzzle ‖ fragment (ε_f) and a CMS
// report of the whole word (ε_w). TestSFPRecoversPlantedWords recovers 5
// planted words (4–8% of devices each) among n = 200,000 devices whose
// other words are random, at ε_f = ε_w = 2 (ε = 4 per device), m = 1024,
// k = 16, words of up to 10 letters in 5 fragments of 2, an 8-bit puzzle
// and thresholds at 5 noise standard deviations, with no false discovery.
//
// # Variance
//
// With n reports, f = f(d) the true count of d, F2 = Σ_{d'≠d} f(d')² over the
// other items, and the hash functions drawn independently for each row (so
// that two different items collide in a row with probability 1/m,
// independently across rows and item pairs), conditioning on the hashes:
//
//	Var f̂(d) = (m/(m-1))² · [ n·V + (n-f)·W + F2·(1/(km))(1-1/m) ]
//
// where the last term is the collision term (items sharing a bucket with d in
// a row move together, because every device uses the same hash functions),
// and
//
//	CMS:  V = (c²-1)/4 = e^(ε/2)/(e^(ε/2)-1)²,   W = (1/m)(1-1/m)(1-1/k)
//	HCMS: the per-report second moment is exactly k²c², so
//	      n·V + (n-f)·W = f(c²-1) + (n-f)(c² - (1/(km))(1-1/m) - 1/m²).
//
// Derivation: write S = Σ_j M[j, h_j(d)] = Σ_i Y_i, one term per report.
// Given the hashes H, reports are independent, E[Y_i | H] = Σ_j C_j(d_i) with
// C_j(d') = 1{h_j(d') = h_j(d)}, so Var E[S|H] = k(1/m)(1-1/m)·F2, and
// E Var(Y_i | H) is the flip variance plus the variance of the row choice:
// k²(c²-1)/4 + k²(1/m)(1-1/m)(1-1/k) for CMS (no second term when d_i = d);
// for HCMS Y_i = ±kc, so Var(Y_i | H) = k²c² - (Σ_j C_j(d_i))². Finally
// Var f̂ = (m/(m-1))²·Var(S)/k². Variance is tested against simulation
// (TestVarianceMatchesAnalytic, ±5% at n = 10⁵, m = 1024, k = 16).
package ldp
