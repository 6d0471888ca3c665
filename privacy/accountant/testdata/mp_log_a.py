#!/usr/bin/python3
"""Regenerates mp_log_a.json: log A_alpha of the Poisson-subsampled Gaussian
by multi-precision numerical integration (Mironov, Talwar, Zhang 2019, eq. for
A_alpha = E_{z~N(0,s^2)}[((1-q) + q exp((2z-1)/(2s^2)))^alpha]).

Run with Debian's python3 (mpmath 1.2): /usr/bin/python3 mp_log_a.py > mp_log_a.json
"""
import json
import mpmath

mpmath.mp.dps = 50

CASES = [
    # (q, sigma, alpha): fractional orders exercise the signed series,
    # integer ones the binomial sum.
    (1e-4, 1.0, 1.5), (1e-3, 1.0, 2.0), (0.01, 10.0, 20.0), (0.1, 100.0, 20.5),
    (1e-6, 1.0, 27.0), (0.01, 2.5, 1.5), (0.01, 2.5, 2.5), (0.01, 2.5, 5.0),
    (0.01, 2.5, 50.0), (0.01, 1.0, 1.1), (0.01, 1.0, 1.9), (0.01, 1.0, 3.7),
    (0.01, 1.0, 10.9), (0.05, 0.8, 1.3), (0.05, 0.8, 2.6), (0.05, 0.8, 7.4),
    (0.2, 1.5, 1.2), (0.2, 1.5, 4.5), (0.5, 2.0, 3.3), (0.04, 1.5, 6.3),
    (0.005, 0.9, 5.5), (0.99, 1.0, 2.5), (0.3, 5.0, 8.8), (0.01, 4.0, 32.0),
    # dp_accounting's multi-precision test points (test_compute_log_a_equals_mp).
    (1e-7, 0.1, 1.01), (1e-6, 0.1, 256.0), (1e-5, 0.1, 256.1), (0.01, 10.0, 20.0),
    (0.99, 0.1, 256.0), (0.999, 100.0, 256.1), (0.02, 1.1, 1.05), (0.1, 0.7, 1.7),
]


def log_a(q, sigma, alpha):
    q, s, a = mpmath.mpf(q), mpmath.mpf(sigma), mpmath.mpf(alpha)

    def f(z):
        return mpmath.npdf(z, 0, s) * ((1 - q) + q * mpmath.exp((2 * z - 1) / (2 * s * s))) ** a

    # Split at 0 and at the mean of the shifted component (1/2 + ...) to help
    # the quadrature; the integrand is smooth.
    v = mpmath.quad(f, [-mpmath.inf, -10 * s, 0, 0.5, 10 * s + a, mpmath.inf], maxdegree=10)
    return float(mpmath.log(v))


print(json.dumps([{"q": q, "sigma": s, "alpha": a, "log_a": log_a(q, s, a)} for q, s, a in CASES], indent=1))
