package accountant

import (
	"math"
	"sync"
)

// logAdd returns log(exp(a) + exp(b)).
func logAdd(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// logSub returns log(exp(a) - exp(b)) for a ≥ b; -Inf when a == b.
func logSub(a, b float64) float64 {
	if math.IsInf(b, -1) {
		return a
	}
	if b >= a {
		return math.Inf(-1)
	}
	return a + log1mexp(b-a)
}

// log1mexp returns log(1 - exp(x)) for x < 0, accurately near 0 and -Inf.
func log1mexp(x float64) float64 {
	if x > -math.Ln2 {
		return math.Log(-math.Expm1(x))
	}
	return math.Log1p(-math.Exp(x))
}

// logSumExp accumulates a sum of exp(t) over a stream of log-terms without
// overflow: the sum is exp(max) * scaled.
type logSumExp struct {
	max    float64
	scaled float64
}

func newLogSumExp() logSumExp { return logSumExp{max: math.Inf(-1)} }

func (l *logSumExp) add(t float64) {
	switch {
	case math.IsInf(t, -1):
	case t > l.max:
		l.scaled = l.scaled*math.Exp(l.max-t) + 1
		l.max = t
	default:
		l.scaled += math.Exp(t - l.max)
	}
}

func (l *logSumExp) value() float64 {
	if l.scaled == 0 {
		return math.Inf(-1)
	}
	return l.max + math.Log(l.scaled)
}

// logErfc returns log(erfc(x)), accurate where erfc underflows.
func logErfc(x float64) float64 {
	if x < 25 {
		return math.Log(math.Erfc(x))
	}
	// Asymptotic expansion (Abramowitz & Stegun 7.1.23):
	// erfc(x) = exp(-x²)/(x√π) · (1 - 1/(2x²) + 3/(2x²)² - 15/(2x²)³ + …).
	// At x ≥ 25 the terms kept leave a relative error below 1e-16.
	y := 1 / (2 * x * x)
	series := 1 - y + 3*y*y - 15*y*y*y + 105*y*y*y*y - 945*y*y*y*y*y
	return -x*x - math.Log(x) - 0.5*math.Log(math.Pi) + math.Log(series)
}

// maxFactorialTable bounds the integers whose log-factorial is tabulated; the
// default order grid's largest integer order is 1024.
const maxFactorialTable = 4096

var logFactorials = sync.OnceValue(func() []float64 {
	t := make([]float64, maxFactorialTable+1)
	for i := 2; i <= maxFactorialTable; i++ {
		t[i] = t[i-1] + math.Log(float64(i))
	}
	return t
})

// logFactorial returns log(n!) for n ≥ 0.
func logFactorial(n int) float64 {
	if n <= maxFactorialTable {
		return logFactorials()[n]
	}
	v, _ := math.Lgamma(float64(n) + 1)
	return v
}
