#!/usr/bin/python3
"""Reference values for dist_test.go, from SciPy.

Run with Debian's python3 (it has SciPy):

    /usr/bin/python3 delivery/experiment/testdata/gen_scipy_reference.py
"""
import json
import os

import scipy
from scipy import special, stats

DFS = [0.5, 1, 2, 3, 4.5, 10, 29.7, 100, 1234.5, 1e5, 3e6]
TS = [-40, -8, -3, -1.96, -0.5, 0, 0.1, 1, 1.5, 2.5, 6, 25]
PS = [1e-10, 1e-6, 0.001, 0.025, 0.05, 0.3, 0.5, 0.7, 0.95, 0.975, 0.999, 1 - 1e-9]
KS = [1, 2, 3, 5, 10, 81, 99, 500]
XS = [1e-4, 0.01, 0.5, 1, 3.84, 10, 50, 120, 300, 1000]
AB = [(0.5, 0.5), (1, 1), (2, 5), (10, 0.5), (50, 70), (2500, 0.5), (0.3, 40)]
BX = [1e-6, 0.01, 0.2, 0.5, 0.8, 0.999]
GA = [0.5, 1, 3, 10.5, 100, 2500]
GX = [1e-3, 0.5, 2, 10, 90, 110, 2400, 2600]


def main():
    out = {"scipy": scipy.__version__, "t": [], "t_ppf": [], "chi2": [], "betainc": [], "gammainc": []}
    for df in DFS:
        for t in TS:
            out["t"].append([t, df, float(stats.t.cdf(t, df)), float(stats.t.sf(t, df))])
        for p in PS:
            out["t_ppf"].append([p, df, float(stats.t.ppf(p, df))])
    for k in KS:
        for x in XS:
            out["chi2"].append([x, k, float(stats.chi2.cdf(x, k)), float(stats.chi2.sf(x, k))])
    for a, b in AB:
        for x in BX:
            out["betainc"].append([a, b, x, float(special.betainc(a, b, x))])
    for a in GA:
        for x in GX:
            out["gammainc"].append([a, x, float(special.gammainc(a, x)), float(special.gammaincc(a, x))])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scipy_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=None)
        f.write("\n")


if __name__ == "__main__":
    main()
