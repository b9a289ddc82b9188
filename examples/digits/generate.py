#!/usr/bin/python3
"""Generate the digits example for the onnx handler (deterministic).

Run from the repository root with Debian's interpreter, which has
python3-sklearn, python3-onnx and python3-pil (the `python3` first on PATH
may be another interpreter without them):

    /usr/bin/python3 examples/digits/generate.py

It writes, under examples/digits/:

  images/digit-NNNN.png  the held-out images of sklearn's load_digits(), 8x8
                         8-bit grayscale, pixel = round(v*255/16) (numpy
                         rounding, half to even), NNNN = the image's index in
                         load_digits()
  model.onnx             an MLP 64 -> 32 (ReLU) -> 10 built with onnx.helper
                         (IR version 8, opset 13): input "pixels" float32
                         [N,1,8,8], outputs "logits" and "probabilities"
                         float32 [N,10]
  digits.csv             file,label,p0..p63 with pK = pixel/255 as float32
                         (the exact model input, row-major)
  expected.csv           file,prediction,label; prediction = argmax of the
                         logits computed in numpy in float32
  labels.txt             "0".."9", one per line (index i is digit i)

The classifier is trained on x = pixel/255 of the same rounded 8-bit pixels
that the PNG files hold, so a handler that reads a PNG and multiplies by
1/255 feeds exactly what training saw.
"""

import os

# One BLAS thread: sums in the same order on every run.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import csv  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
TEST_SIZE = 0.2
HIDDEN = 32
MIN_ACCURACY = 0.9


def features(pixels_u8):
    """Model input from 8-bit pixels: pixel/255 in float32."""
    return (pixels_u8.astype(np.float64) / 255.0).astype(np.float32)


def forward(x, w1, b1, w2, b2):
    """What the ONNX graph computes, in float32: logits [N,10]."""
    h = np.maximum(x @ w1 + b1, np.float32(0))
    return h @ w2 + b2


def build_model(w1, b1, w2, b2):
    inits = [
        numpy_helper.from_array(w1, "W1"),
        numpy_helper.from_array(b1, "B1"),
        numpy_helper.from_array(w2, "W2"),
        numpy_helper.from_array(b2, "B2"),
    ]
    nodes = [
        helper.make_node("Flatten", ["pixels"], ["flat"], axis=1, name="flatten"),
        helper.make_node("MatMul", ["flat", "W1"], ["h1_mm"], name="fc1_matmul"),
        helper.make_node("Add", ["h1_mm", "B1"], ["h1_pre"], name="fc1_add"),
        helper.make_node("Relu", ["h1_pre"], ["h1"], name="relu1"),
        helper.make_node("MatMul", ["h1", "W2"], ["h2_mm"], name="fc2_matmul"),
        helper.make_node("Add", ["h2_mm", "B2"], ["logits"], name="fc2_add"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10]),
        ],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="prs examples/digits/generate.py",
        doc_string="sklearn load_digits MLP 64-32-10; input pixel/255, NCHW [N,1,8,8]",
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def run_graph(model, x):
    """A small numpy interpreter of the graph's nodes, to check that the
    saved graph (not just the weights) computes `forward`."""
    env = {"pixels": x}
    for t in model.graph.initializer:
        env[t.name] = numpy_helper.to_array(t)
    for n in model.graph.node:
        a = [env[i] for i in n.input]
        if n.op_type == "Flatten":
            out = a[0].reshape(a[0].shape[0], -1)
        elif n.op_type == "MatMul":
            out = a[0] @ a[1]
        elif n.op_type == "Add":
            out = a[0] + a[1]
        elif n.op_type == "Relu":
            out = np.maximum(a[0], np.float32(0))
        elif n.op_type == "Softmax":
            e = np.exp(a[0] - a[0].max(axis=1, keepdims=True))
            out = e / e.sum(axis=1, keepdims=True)
        else:
            raise ValueError("unexpected op " + n.op_type)
        env[n.output[0]] = out.astype(np.float32)
    return env["logits"], env["probabilities"]


def main():
    digits = load_digits()
    pixels = np.round(digits.data * 255.0 / 16.0).astype(np.uint8)  # [1797, 64]
    y = digits.target.astype(np.int64)
    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=TEST_SIZE, random_state=SEED, stratify=y)
    test = np.sort(test)

    x = features(pixels)
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), alpha=1e-3, max_iter=2000, random_state=SEED)
    clf.fit(x[train], y[train])
    assert list(clf.classes_) == list(range(10))

    w1 = clf.coefs_[0].astype(np.float32)
    b1 = clf.intercepts_[0].astype(np.float32)
    w2 = clf.coefs_[1].astype(np.float32)
    b2 = clf.intercepts_[1].astype(np.float32)

    # Images: remove old ones so that a rerun leaves exactly this set.
    img_dir = os.path.join(HERE, "images")
    shutil.rmtree(img_dir, ignore_errors=True)
    os.makedirs(img_dir)
    names = []
    for i in test:
        name = "digit-%04d.png" % i
        Image.fromarray(pixels[i].reshape(8, 8), mode="L").save(os.path.join(img_dir, name))
        names.append(name)

    # Read the PNG files back: the model input comes from what was written.
    back = np.stack([np.asarray(Image.open(os.path.join(img_dir, n)), dtype=np.uint8).reshape(64) for n in names])
    assert np.array_equal(back, pixels[test]), "PNG round trip changed pixels"
    x_test = features(back)

    logits = forward(x_test, w1, b1, w2, b2)
    pred = logits.argmax(axis=1)
    acc = float((pred == y[test]).mean())

    model = build_model(w1, b1, w2, b2)
    model_path = os.path.join(HERE, "model.onnx")
    onnx.save(model, model_path)

    # The saved graph, reloaded and interpreted node by node, must agree.
    g_logits, g_prob = run_graph(onnx.load(model_path), x_test.reshape(-1, 1, 8, 8))
    assert np.array_equal(g_logits, logits), "graph logits differ from numpy forward"
    assert np.array_equal(g_prob.argmax(axis=1), pred), "softmax argmax differs"
    top2 = np.sort(logits, axis=1)[:, -2:]
    margin = float((top2[:, 1] - top2[:, 0]).min())

    with open(os.path.join(HERE, "digits.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "label"] + ["p%d" % k for k in range(64)])
        for n, lab, row in zip(names, y[test], x_test):
            w.writerow([n, int(lab)] + ["%.9g" % v for v in row])

    with open(os.path.join(HERE, "expected.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "prediction", "label"])
        for n, p, lab in zip(names, pred, y[test]):
            w.writerow([n, int(p), int(lab)])

    with open(os.path.join(HERE, "labels.txt"), "w") as f:
        f.write("".join("%d\n" % k for k in range(10)))

    print("train %d, held out %d" % (len(train), len(test)))
    print("sklearn accuracy (float64): %.4f" % clf.score(x[test], y[test]))
    print("held-out accuracy (float32 logits, as in model.onnx): %.4f (%d/%d)" % (acc, int((pred == y[test]).sum()), len(test)))
    print("smallest top-1/top-2 logit margin: %.4f" % margin)
    print("model.onnx: %d bytes" % os.path.getsize(model_path))
    if acc < MIN_ACCURACY:
        sys.exit("accuracy %.4f is below %.2f" % (acc, MIN_ACCURACY))


if __name__ == "__main__":
    main()
