#!/usr/bin/python3
"""make_conv_model.py OUT.onnx [BLOCKS] — a convolutional classifier heavy
enough that the model, not the pipeline, sets the pace of `prs bench onnx` on
a CPU, for hosts without a real model at hand (ResNet-50 is the real test).

Input "input" float32 [N,3,224,224] -> Conv 7x7/2 to 64 channels (ResNet's
stem) -> Relu -> MaxPool 3x3/2 -> BLOCKS x (Conv 3x3 64->64, Relu) at 56x56
(default 4) -> GlobalAveragePool -> Flatten -> Gemm to 10 -> "logits"
float32 [N,10]. About 0.12 + 0.12*BLOCKS GMAC per image (0.6 GMAC at the
default, ResNet-50 is 4.1). Weights are fixed pseudo-random numbers (seed 0).
ONNX IR version 8, opset 13; needs only Debian's python3-onnx and
python3-numpy (run it with /usr/bin/python3).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: make_conv_model.py OUT.onnx [BLOCKS]")
    out = sys.argv[1]
    blocks = int(sys.argv[2]) if len(sys.argv) == 3 else 4
    rng = np.random.RandomState(0)
    inits = []

    def weight(name, shape, scale):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def zeros(name, n):
        inits.append(numpy_helper.from_array(np.zeros(n, dtype=np.float32), name))
        return name

    nodes = [
        helper.make_node("Conv", ["input", weight("stem_w", (64, 3, 7, 7), 0.05), zeros("stem_b", 64)], ["stem"],
                         kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3]),
        helper.make_node("Relu", ["stem"], ["stem_relu"]),
        helper.make_node("MaxPool", ["stem_relu"], ["x0"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    ]
    for i in range(blocks):
        nodes += [
            helper.make_node("Conv", ["x%d" % i, weight("w%d" % i, (64, 64, 3, 3), 0.04), zeros("b%d" % i, 64)],
                             ["c%d" % i], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c%d" % i], ["x%d" % (i + 1)]),
        ]
    nodes += [
        helper.make_node("GlobalAveragePool", ["x%d" % blocks], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", weight("fc_w", (10, 64), 0.1), zeros("fc_b", 10)], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="prs-bench", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
