#!/usr/bin/python3
"""Times a training step (forward + backward + SGD update) in Sextant and in
PyTorch 1.13 CPU eager with torch.set_num_threads(1), on the same models,
initial weights and batches, and prints the ratio.

Run with Debian's python3 (torch 1.13) from the repository root:

    /usr/bin/python3 bench/train/train_bench.py [--steps 300] [--warmup 30] [--rounds 3]

Models, float32, batch 32, softmax cross-entropy, plain SGD (lr 0.01):
  mlp  Linear 32->256->256->64 with ReLU
  gru  Embedding(1000, 32) -> GRU(32, 64) over 16 tokens -> last hidden
       state -> Linear(64, 10)

The script writes the initial weights (GRU in ONNX's layout and gate order)
and 16 batches as .npy, builds bench/train (Go), and alternates rounds:
PyTorch in this process, then the Go program, each timing every step on its
own with a monotonic clock (time.perf_counter_ns / time.Now) after the same
number of warm-up steps. Each side's figure is the median over rounds of the
per-round median step time. Both sides print their first losses, which must
agree (same weights, same data, same order); the Go program also fails if a
step allocates on the heap. The MLP line also reports Sextant's DP-SGD step
(per-example clipping of all 32 examples, Gaussian noise from the OS-keyed
CSPRNG) against its plain step.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

BATCH, NBATCH = 32, 16


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(32, 256)
        self.l2 = torch.nn.Linear(256, 256)
        self.l3 = torch.nn.Linear(256, 64)

    def forward(self, x):
        return self.l3(torch.relu(self.l2(torch.relu(self.l1(x)))))


VOCAB, EMB, HID, SEQ, OUT = 1000, 32, 64, 16, 10


class GRUClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(VOCAB, EMB)
        self.gru = torch.nn.GRU(EMB, HID, batch_first=True)
        self.fc = torch.nn.Linear(HID, OUT)

    def forward(self, tokens):
        _, h = self.gru(self.emb(tokens))
        return self.fc(h[0])


def onnx_gates(w):
    """Reorders torch's (r, z, n) gate blocks to ONNX's (z, r, h)."""
    r, z, n = np.split(w, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def export(name, m, d, x, y):
    os.makedirs(d, exist_ok=True)
    if name == "mlp":
        w = {}
        for i, l in enumerate([m.l1, m.l2, m.l3], 1):
            w["w%d" % i] = l.weight.detach().numpy()
            w["b%d" % i] = l.bias.detach().numpy()
        w["x"] = x
    else:
        g = m.gru
        w = {
            "emb": m.emb.weight.detach().numpy(),
            "gru_w": onnx_gates(g.weight_ih_l0.detach().numpy())[None],
            "gru_r": onnx_gates(g.weight_hh_l0.detach().numpy())[None],
            "gru_b": np.concatenate([onnx_gates(g.bias_ih_l0.detach().numpy()),
                                     onnx_gates(g.bias_hh_l0.detach().numpy())])[None],
            "fc_w": m.fc.weight.detach().numpy(),
            "fc_b": m.fc.bias.detach().numpy(),
            "tokens": x,
        }
    w["labels"] = y
    for k, v in w.items():
        np.save(os.path.join(d, k + ".npy"), np.ascontiguousarray(v))


def make(name):
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    if name == "mlp":
        m = MLP()
        x = rng.standard_normal((NBATCH, BATCH, 32)).astype(np.float32)
        y = rng.integers(0, 64, (NBATCH, BATCH)).astype(np.int64)
    else:
        m = GRUClassifier()
        x = rng.integers(0, VOCAB, (NBATCH, BATCH, SEQ)).astype(np.int64)
        y = rng.integers(0, OUT, (NBATCH, BATCH)).astype(np.int64)
    return m, x, y


def time_torch(name, steps, warmup, lr):
    m, x, y = make(name)
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    xs, ys = [torch.from_numpy(v) for v in x], [torch.from_numpy(v) for v in y]
    losses, lat = [], []
    for i in range(warmup + steps):
        k = i % NBATCH
        t0 = time.perf_counter_ns()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(xs[k]), ys[k])
        loss.backward()
        opt.step()
        t1 = time.perf_counter_ns()
        if i < warmup:
            if len(losses) < 5:
                losses.append(loss.item())
        else:
            lat.append((t1 - t0) / 1e3)
    return statistics.median(lat), losses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--models", default="mlp,gru")
    a = ap.parse_args()
    torch.set_num_threads(1)
    bench = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "trainbench")
        subprocess.run(["go", "build", "-o", exe, "./train"], cwd=bench, check=True)
        rows = []
        for name in a.models.split(","):
            m, x, y = make(name)
            export(name, m, os.path.join(tmp, name), x, y)
            tt, st, dp = [], [], []
            for _ in range(a.rounds):
                p50, tl = time_torch(name, a.steps, a.warmup, a.lr)
                tt.append(p50)
                p = subprocess.run([exe, "--dir", tmp, "--model", name, "--steps", str(a.steps),
                                    "--warmup", str(a.warmup), "--lr", str(a.lr)],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit("bench/train %s failed: %s" % (name, p.stderr))
                r = json.loads(p.stdout)
                st.append(r["p50_us"])
                if r.get("dp_p50_us"):
                    dp.append(r["dp_p50_us"])
                sl = r["first_losses"]
                for i, (u, v) in enumerate(zip(tl, sl)):
                    if abs(u - v) > 1e-4 * max(1, abs(u)):
                        sys.exit("%s: step %d loss %.7g in torch, %.7g in Sextant: not the same run" % (name, i, u, v))
            t, s = statistics.median(tt), statistics.median(st)
            row = {"model": name, "torch_us": t, "sextant_us": s, "ratio": s / t, "allocs_per_step": r["allocs_per_step"]}
            if dp:
                row["sextant_dp_us"] = statistics.median(dp)
                row["dp_over_plain"] = row["sextant_dp_us"] / s
            rows.append(row)
    print("torch %s, %d thread(s); %d rounds x %d timed steps (median of per-round medians)" %
          (torch.__version__, torch.get_num_threads(), a.rounds, a.steps))
    print("%-5s %12s %12s %8s %8s %14s %10s" % ("model", "torch us", "sextant us", "ratio", "allocs", "sextant DP us", "DP/plain"))
    for r in rows:
        print("%-5s %12.1f %12.1f %8.2f %8g %14s %10s" % (
            r["model"], r["torch_us"], r["sextant_us"], r["ratio"], r["allocs_per_step"],
            "%.1f" % r["sextant_dp_us"] if "sextant_dp_us" in r else "-",
            "%.2f" % r["dp_over_plain"] if "dp_over_plain" in r else "-"))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
