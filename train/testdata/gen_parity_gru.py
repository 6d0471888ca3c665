#!/usr/bin/python3
"""Generates the PyTorch reference trajectories for the embedding + GRU
classifier in train/parity_test.go.

Run with Debian's python3 (torch 1.13): /usr/bin/python3 gen_parity_gru.py
It writes parity_gru/*.npy: the data (100 batches of token ids and labels),
the initial weights, and for SGD (momentum 0.9) and Adam the 100 losses and
the final weights. GRU weights are written in ONNX's layout and gate order
(z, r, h; W [1, 3H, E], R [1, 3H, H], B [1, 6H] = [Wb, Rb]); torch's GRU is
ONNX's with linear_before_reset = 1.

The model: tokens[8, 6] -> Embedding(20, 8) -> GRU(8, 12) -> last hidden
state -> Linear(12, 3), softmax cross-entropy, float32 throughout.
"""
import os

import numpy as np
import torch

torch.set_num_threads(1)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity_gru")
os.makedirs(here, exist_ok=True)

STEPS, BATCH, SEQ, VOCAB, EMB, HID, OUT = 100, 8, 6, 20, 8, 12, 3


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(VOCAB, EMB)
        self.gru = torch.nn.GRU(EMB, HID, batch_first=True)
        self.fc = torch.nn.Linear(HID, OUT)

    def forward(self, tokens):
        _, h = self.gru(self.emb(tokens))
        return self.fc(h[0])


def model():
    torch.manual_seed(0)
    return Model()


def onnx_gates(w):
    """Reorders torch's (r, z, n) gate blocks to ONNX's (z, r, h)."""
    r, z, n = np.split(w, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def weights(m):
    g = m.gru
    return {
        "emb": m.emb.weight.detach().numpy(),
        "gru_w": onnx_gates(g.weight_ih_l0.detach().numpy())[None],
        "gru_r": onnx_gates(g.weight_hh_l0.detach().numpy())[None],
        "gru_b": np.concatenate([onnx_gates(g.bias_ih_l0.detach().numpy()), onnx_gates(g.bias_hh_l0.detach().numpy())])[None],
        "fc_w": m.fc.weight.detach().numpy(),
        "fc_b": m.fc.bias.detach().numpy(),
    }


rng = np.random.default_rng(11)
tokens = rng.integers(0, VOCAB, (STEPS, BATCH, SEQ)).astype(np.int64)
labels = rng.integers(0, OUT, (STEPS, BATCH)).astype(np.int64)
np.save(os.path.join(here, "tokens.npy"), tokens)
np.save(os.path.join(here, "labels.npy"), labels)
for k, v in weights(model()).items():
    np.save(os.path.join(here, "init_" + k + ".npy"), np.ascontiguousarray(v))

for name, make in [
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    ("adam", lambda p: torch.optim.Adam(p, lr=0.01)),
]:
    m = model()
    opt = make(m.parameters())
    losses = []
    for s in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(torch.from_numpy(tokens[s])), torch.from_numpy(labels[s]))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.save(os.path.join(here, name + "_losses.npy"), np.array(losses, dtype=np.float64))
    for k, v in weights(m).items():
        np.save(os.path.join(here, name + "_" + k + ".npy"), np.ascontiguousarray(v))
