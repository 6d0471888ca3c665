#!/usr/bin/python3
"""Export the small PyTorch test models Sextant's ONNX importer and engine are
checked against.

Run with Debian's Python (torch 1.13, onnx 1.12, numpy), from any directory:

    /usr/bin/python3 testdata/torch/export.py

For every model and opset it writes <name>_op<N>.onnx beside this script and a
directory <name>_op<N>/ holding one .npy file per graph input and per graph
output, named after the ONNX value: the inputs fed and the outputs PyTorch
computed from them. Seeds are fixed, so a rerun with the same versions writes
the same numbers.
"""

import os

import numpy as np
import onnx
import torch
from torch import nn

OPSETS = (13, 14, 17)
HERE = os.path.dirname(os.path.abspath(__file__))


class MLP(nn.Module):
    """Linear(32->64) -> ReLU -> Linear(64->16)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 16)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class GRU(nn.Module):
    """Batch-first GRU, input 8, hidden 16; returns the output sequence and h_n."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(input_size=8, hidden_size=16, batch_first=True)

    def forward(self, x):
        out, h = self.rnn(x)
        return out, h


class LSTM(nn.Module):
    """Sequence-first LSTM, input 8, hidden 16; returns output, h_n and c_n."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(input_size=8, hidden_size=16)

    def forward(self, x):
        out, (h, c) = self.rnn(x)
        return out, h, c


class Block(nn.Module):
    """Linear(16->32) -> LayerNorm -> GELU -> Linear(32->8) -> Softmax."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.norm = nn.LayerNorm(32)
        self.fc2 = nn.Linear(32, 8)

    def forward(self, x):
        h = nn.functional.gelu(self.norm(self.fc1(x)))
        return torch.softmax(self.fc2(h), dim=-1)


# name -> (module class, input shape, output names, dynamic batch axis or None)
MODELS = {
    "mlp": (MLP, (2, 32), ["y"], 0),
    "gru": (GRU, (2, 5, 8), ["output", "h_n"], None),
    "lstm": (LSTM, (5, 2, 8), ["output", "h_n", "c_n"], None),
    "block": (Block, (2, 16), ["y"], 0),
}


def export(name, opset):
    cls, shape, outputs, batch_axis = MODELS[name]
    torch.manual_seed(0)
    model = cls().eval()
    # Give LayerNorm non-trivial parameters so the test sees them used.
    for p in model.parameters():
        if p.dim() == 1 and p.shape[0] == 32 and name == "block":
            with torch.no_grad():
                p.add_(torch.randn_like(p) * 0.1)
    rng = np.random.default_rng(1234)
    x = rng.standard_normal(shape).astype(np.float32)
    dynamic = None
    if batch_axis is not None:
        dynamic = {"x": {batch_axis: "batch"}}
        for o in outputs:
            dynamic[o] = {batch_axis: "batch"}
    base = os.path.join(HERE, "%s_op%d" % (name, opset))
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.from_numpy(x),),
            base + ".onnx",
            input_names=["x"],
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
        )
        ref = model(torch.from_numpy(x))
    if not isinstance(ref, tuple):
        ref = (ref,)
    onnx.checker.check_model(onnx.load(base + ".onnx"))
    os.makedirs(base, exist_ok=True)
    np.save(os.path.join(base, "x.npy"), x)
    for o, r in zip(outputs, ref):
        np.save(os.path.join(base, o + ".npy"), r.numpy())


def main():
    for name in MODELS:
        for opset in OPSETS:
            export(name, opset)


if __name__ == "__main__":
    main()
