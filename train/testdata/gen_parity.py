#!/usr/bin/python3
"""Generates the PyTorch reference trajectories for train/parity_test.go.

Run with Debian's python3 (torch 1.13): /usr/bin/python3 gen_parity.py
It writes parity/*.npy: the initial weights, the data (100 batches), and for
each run in RUNS (SGD with momentum; Adam; SGD with Nesterov momentum, weight
decay, a step schedule, label smoothing and class weights; AdamW with a
cosine schedule and global-norm clipping) the 100 losses and final weights. Weights are
stored in torch's layout ([out, in] for Linear).

The model: x[16, 8] -> Linear(8, 16) -> LayerNorm(16) -> ReLU -> Linear(16, 4),
softmax cross-entropy against int64 labels, float32 throughout.
"""
import os

import numpy as np
import torch

torch.set_num_threads(1)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity")
os.makedirs(here, exist_ok=True)

STEPS, BATCH, IN, HID, OUT = 100, 16, 8, 16, 4


def model():
    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Linear(IN, HID), torch.nn.LayerNorm(HID), torch.nn.ReLU(), torch.nn.Linear(HID, OUT))
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        m[1].weight.copy_(1 + 0.1 * torch.randn(HID))
        m[1].bias.copy_(0.1 * torch.randn(HID))
    return m


def names(m):
    return {"w1": m[0].weight, "b1": m[0].bias, "ln_s": m[1].weight, "ln_b": m[1].bias, "w2": m[3].weight, "b2": m[3].bias}


rng = np.random.default_rng(7)
x = rng.standard_normal((STEPS, BATCH, IN)).astype(np.float32)
y = rng.integers(0, OUT, (STEPS, BATCH)).astype(np.int64)
np.save(os.path.join(here, "x.npy"), x)
np.save(os.path.join(here, "y.npy"), y)
for k, v in names(model()).items():
    np.save(os.path.join(here, "init_" + k + ".npy"), v.detach().numpy())

CLASS_WEIGHTS = torch.tensor([0.5, 2.0, 1.0, 1.5])

# name, optimizer, scheduler (or None), clip norm (or None), cross-entropy kwargs
RUNS = [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), None, None, {}),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01), None, None, {}),
    # Nesterov, weight decay, StepLR; label smoothing and class weights.
    ("sgdn", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.5), None,
     {"label_smoothing": 0.1, "weight": CLASS_WEIGHTS}),
    # AdamW, cosine annealing, global-norm clipping.
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS), 0.5, {}),
]

for opt_name, make, sched, clip, ce in RUNS:
    m = model()
    opt = make(m.parameters())
    lr_sched = sched(opt) if sched else None
    losses = []
    for s in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(torch.from_numpy(x[s])), torch.from_numpy(y[s]), **ce)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
        opt.step()
        if lr_sched:
            lr_sched.step()
        losses.append(loss.item())
    np.save(os.path.join(here, opt_name + "_losses.npy"), np.array(losses, dtype=np.float64))
    for k, v in names(m).items():
        np.save(os.path.join(here, opt_name + "_" + k + ".npy"), v.detach().numpy())
