#!/usr/bin/python3
"""Generate assign_golden.json: the assignment of 10^6 unit ids.

Run with Debian's python3 (the reference C xxHash library, libxxhash0, is
called through ctypes, so the file is independent of the Go code):

    /usr/bin/python3 delivery/targeting/testdata/gen_golden.py

Unit i is hex(sha256(str(i)))[: 8 + i % 41], so ids are 8..48 bytes long and
exercise every path of XXH64 (the 32-byte stripes, 8-, 4- and 1-byte tails).
Bucket(salt, unit) = (XXH64(unit, seed=XXH64(salt, 0)) * 10000) >> 64.
Each row is "unit,membership_bucket,variant_bucket\n"; the file holds the
SHA-256 of all rows in order and every 1000th row explicitly.
"""
import ctypes
import hashlib
import json
import os

N = 1_000_000
MEMBERSHIP_SALT = "rollout/golden/membership"
VARIANT_SALT = "experiment/golden/variant"

lib = ctypes.CDLL("libxxhash.so.0")
lib.XXH64.restype = ctypes.c_uint64
lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]


def xxh64(b, seed):
    return lib.XXH64(b, len(b), seed)


def bucket(seed, unit):
    return (xxh64(unit, seed) * 10000) >> 64


def main():
    ms = xxh64(MEMBERSHIP_SALT.encode(), 0)
    vs = xxh64(VARIANT_SALT.encode(), 0)
    digest = hashlib.sha256()
    sample = []
    for i in range(N):
        unit = hashlib.sha256(str(i).encode()).hexdigest()[: 8 + i % 41]
        u = unit.encode()
        row = [unit, bucket(ms, u), bucket(vs, u)]
        digest.update(("%s,%d,%d\n" % tuple(row)).encode())
        if i % 1000 == 0:
            sample.append(row)
    out = {
        "generator": "gen_golden.py with libxxhash " + str(lib.XXH_versionNumber()),
        "n": N,
        "membership_salt": MEMBERSHIP_SALT,
        "variant_salt": VARIANT_SALT,
        "rows_sha256": digest.hexdigest(),
        "vectors": [
            {"input": s, "seed": seed, "xxh64": "%016x" % xxh64(s.encode(), seed)}
            for s, seed in [
                ("", 0), ("a", 0), ("abc", 0), ("abcd", 1), ("0123456789abcdef", 7),
                ("The quick brown fox jumps over the lazy dog", 0),
                ("The quick brown fox jumps over the lazy dog", 2**64 - 1),
                ("x" * 100, 12345),
            ]
        ],
        "sample_every": 1000,
        "sample": sample,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assign_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
