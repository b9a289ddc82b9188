#!/usr/bin/python3
"""make_tiny_model.py OUT.onnx [SIZE] — a tiny image classifier for testing and
CPU runs of `prs bench onnx` (SIZE default 224).

Input "input" float32 [N,3,SIZE,SIZE] -> Conv (16 filters 8x8, stride 8) -> Relu
-> GlobalAveragePool -> Flatten -> Gemm to 10 -> output "logits" float32 [N,10].
Weights are fixed pseudo-random numbers (seed 0): the compute is what matters.
ONNX IR version 8, opset 13; needs only onnx and numpy (Debian's python3-onnx
and python3-numpy: run it with /usr/bin/python3). cmd/prs/internal/bench's tests build
the same graph in Go, so nothing in the repository depends on this script.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make_tiny_model.py OUT.onnx [SIZE]")
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) == 3 else 224
    if size < 8:
        sys.exit("SIZE must be at least 8")
    rng = np.random.RandomState(0)
    conv_w = (rng.standard_normal((16, 3, 8, 8)) * 0.05).astype(np.float32)
    conv_b = np.zeros(16, dtype=np.float32)
    fc_w = (rng.standard_normal((10, 16)) * 0.1).astype(np.float32)
    fc_b = np.zeros(10, dtype=np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv"],
                         kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=[numpy_helper.from_array(a, n) for n, a in
                     (("conv_w", conv_w), ("conv_b", conv_b), ("fc_w", fc_w), ("fc_b", fc_b))],
    )
    model = helper.make_model(graph, producer_name="prs-bench",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
