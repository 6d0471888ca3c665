package experiment

import (
	"fmt"
	"math"
)

// DefaultTuning is N*, the total sample size at which the confidence
// sequence is tightest, when Sequential.Tuning is zero (gbstats' default).
const DefaultTuning = 5000

// Sequential selects always-valid inference: the asymptotic confidence
// sequences of I. Waudby-Smith, D. Arbour, R. Sinha, E. H. Kennedy and
// A. Ramdas, "Time-uniform central limit theory and asymptotic confidence
// sequences" (2023, arXiv:2103.06476v7), in the form gbstats ships:
//
//	ρ  = √((−2 ln α + ln(−2 ln α + 1)) / N*)                     (eq. 161)
//	hw = √(n·se²) · √(2(nρ² + 1) · ln(√(nρ² + 1)/α) / (nρ)²)
//	p  = min(1, √(nρ² + 1) · exp(−ρ² · n·Δ²/se² / (2(nρ² + 1))))   (eq. 155)
//
// with n the total units of both arms, Δ the effect and se its standard
// error. The interval is Δ ± hw; at any number of looks the chance that
// any interval misses the truth is ≤ α (asymptotically).
type Sequential struct {
	// Tuning is N* (> 0); zero means DefaultTuning.
	Tuning float64 `json:"tuning"`
}

// Rho is the mixing parameter ρ for α and N*.
func Rho(alpha, tuning float64) float64 {
	l := -2 * math.Log(alpha)
	return math.Sqrt((l + math.Log(l+1)) / tuning)
}

type seqInterval struct{ halfwidth, p float64 }

func (s *Sequential) interval(effect, se, n, alpha float64) (seqInterval, error) {
	tuning := s.Tuning
	if tuning == 0 {
		tuning = DefaultTuning
	}
	if !(tuning > 0) || math.IsInf(tuning, 0) {
		return seqInterval{}, fmt.Errorf("%w: sequential tuning %g must be positive", ErrInvalid, tuning)
	}
	rho := Rho(alpha, tuning)
	nr2 := n * rho * rho
	s2 := se * se * n
	hw := math.Sqrt(s2) * math.Sqrt(2*(nr2+1)*math.Log(math.Sqrt(nr2+1)/alpha)/((n*rho)*(n*rho)))
	st2 := effect * effect * n / (se * se)
	// 1/e-value, in logs so a huge statistic does not overflow.
	logInvE := 0.5*math.Log(nr2+1) - rho*rho*st2/(2*(nr2+1))
	return seqInterval{halfwidth: hw, p: math.Min(1, math.Exp(logInvE))}, nil
}
