#!/usr/bin/python3
"""Export the peer-comparison model set to bench/models/*.onnx.

Run with Debian's interpreter (python3-torch 1.13, python3-onnx 1.12), not a
pyenv python first on PATH:

    /usr/bin/python3 bench/models/export.py            # all committed models
    /usr/bin/python3 bench/models/export.py gru lstm   # some of them

Every model is exported at batch 1 with static shapes, ONNX opset 17, from
torch modules initialised under a fixed seed, so the files are reproducible
byte for byte on the same torch version. Each file is small (< 1 MB) and is
committed. The one model that is not, the 1024-wide MLP (~6 MB of weights),
is generated deterministically at run time by bench/compare (Go, through
onnx.Encode); see bench/README.md.
"""

import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

OPSET = 17
HERE = os.path.dirname(os.path.abspath(__file__))


class MLP(nn.Module):
    """Linear-ReLU stack; torch exports each Linear on 2-D input as Gemm."""

    def __init__(self, sizes):
        super().__init__()
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class ConvNet(nn.Module):
    """1-D conv net: two k5 convolutions, global average pool, classifier."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(16, 32, 5)
        self.c2 = nn.Conv1d(32, 32, 5)
        self.pool = nn.AdaptiveAvgPool1d(1)  # exported as GlobalAveragePool
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        x = self.pool(x).flatten(1)
        return self.fc(x)


class Encoder(nn.Module):
    """2-layer transformer encoder, d=64, 4 heads, feed-forward 256."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model=64, nhead=4, dim_feedforward=256, dropout=0.0,
            batch_first=True)
        self.enc = nn.TransformerEncoder(
            layer, num_layers=2, enable_nested_tensor=False)
        # TransformerEncoder deep-copies one layer, so both start identical
        # (and the exporter would share their weights): draw each anew.
        for lyr in self.enc.layers:
            lyr.self_attn._reset_parameters()
            for m in (lyr.self_attn.out_proj, lyr.linear1, lyr.linear2):
                m.reset_parameters()

    def forward(self, x):
        return self.enc(x)


class RNN(nn.Module):
    """GRU or LSTM 32->128 over 20 steps, batch-first; returns the sequence."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(32, 128, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


def export_torch(name, module, example):
    module.eval()
    path = os.path.join(HERE, name + ".onnx")
    # Not under torch.no_grad(): with grad enabled and parameters requiring
    # grad, torch 1.13 skips the fused fast paths of TransformerEncoderLayer
    # and MultiheadAttention, which have no ONNX export.
    torch.onnx.export(
        module, (example,), path, opset_version=OPSET,
        input_names=["x"], output_names=["y"], do_constant_folding=True)
    check(path)


def save(name, graph):
    model = helper.make_model(
        graph, producer_name="sextant-bench",
        opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # opset 17 with onnx 1.12
    path = os.path.join(HERE, name + ".onnx")
    onnx.save(model, path)
    check(path)


def check(path):
    onnx.checker.check_model(onnx.load(path))
    size = os.path.getsize(path)
    print(f"{os.path.basename(path)}: {size} bytes")
    if size > 1 << 20:
        sys.exit(f"{path} is over 1 MiB; generate it at run time instead")


def identity():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])
    node = helper.make_node("Identity", ["x"], ["y"])
    save("identity", helper.make_graph([node], "identity", [x], [y]))


def matmul256():
    rng = np.random.default_rng(256)
    w = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [256, 256])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [256, 256])
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    g = helper.make_graph([node], "matmul256", [x], [y],
                          initializer=[numpy_helper.from_array(w, "w")])
    save("matmul256", g)


MODELS = {
    "mlp_small": lambda: export_torch(
        "mlp_small", MLP([32, 256, 256, 64]), torch.randn(1, 32)),
    "gru": lambda: export_torch("gru", RNN(nn.GRU), torch.randn(1, 20, 32)),
    "lstm": lambda: export_torch("lstm", RNN(nn.LSTM), torch.randn(1, 20, 32)),
    "transformer": lambda: export_torch(
        "transformer", Encoder(), torch.randn(1, 32, 64)),
    "conv1d": lambda: export_torch("conv1d", ConvNet(), torch.randn(1, 16, 128)),
    "identity": identity,
    "matmul256": matmul256,
}


def main(names):
    for name in names or MODELS:
        if name not in MODELS:
            sys.exit(f"unknown model {name!r}; have {', '.join(MODELS)}")
        torch.manual_seed(20240517)
        MODELS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
