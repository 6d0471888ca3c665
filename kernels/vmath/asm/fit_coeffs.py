#!/usr/bin/python3
"""Fits the polynomial coefficients of package vmath (generic.go, math.go).

Run with Debian's /usr/bin/python3 (numpy, scipy). Each fit is a near-minimax
polynomial by Lawson's iteratively reweighted least squares on 4000
Chebyshev nodes, in float64, weighted for the error that matters; it prints
the coefficients (lowest degree first) and the largest weighted error.
"""
import numpy as np
from scipy.special import erf, erfc


def cheb(a, b, n=4000):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def lawson(A, y, w, iters=60):
    u = np.ones(len(y))
    for _ in range(iters):
        sw = np.sqrt(u) * w
        c, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
        e = np.abs((A @ c - y) * w)
        u = u * e
        u /= u.sum()
    return c, np.max(np.abs((A @ c - y) * w))


def show(name, c, e):
    print(name, ", ".join(repr(float(v)) for v in c), "max error %.3g" % e)


# exp: e^r = 1 + r + r²·P(r), deg P = 4, |r| ≤ ln2/2, relative error.
r = cheb(-np.log(2) / 2, np.log(2) / 2)
r = r[np.abs(r) > 1e-4]
A = np.stack([r**i for i in range(5)], 1)
show("exp P", *lawson(A, (np.expm1(r) - r) / r**2, r**2 / np.exp(r)))

# tanh: x + x³·P(x²), deg P = 4, 0 < x < 0.625, relative error.
x = cheb(1e-3, 0.625)
A = np.stack([(x * x)**i for i in range(5)], 1)
show("tanh P", *lawson(A, (np.tanh(x) - x) / x**3, x**3 / np.tanh(x)))

# erf: x·P(x²), deg P = 5, 0 < x < 1, relative error.
x = cheb(1e-3, 1.0)
A = np.stack([(x * x)**i for i in range(6)], 1)
show("erf P", *lawson(A, erf(x) / x, x / erf(x)))

# erfc: t·Q(t)·e^(−x²), t = 1/(1 + x/2), deg Q = 6, 0.875 ≤ x ≤ 10, relative.
x = cheb(0.875, 10.0)
t = 1 / (1 + 0.5 * x)
g = erfc(x) * np.exp(x * x) / t
A = np.stack([t**i for i in range(7)], 1)
show("erfc Q", *lawson(A, g, 1 / g))
