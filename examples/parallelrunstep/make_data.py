"""Makes the data and the models of the ParallelRunStep examples.

    python3 examples/parallelrunstep/make_data.py out/parallelrunstep

writes, under that folder (the jobs' paths assume out/parallelrunstep):

    mnist/images/N.png        28x28 grayscale digits: image N shows digit N % 10
    mnist/model/              the "mnist-prs" model, a folder (weights.npy, bias.npy)
    iris/data/iris-K.csv      iris flowers, 4 feature columns; row i is of variety i % 3
    iris/iris_model.pkl       the "iris-prs" model: a pickled iris_model.NearestCentroid
    partition_folder/dataset_partition_test/{user}/{season}/{genres}.wav
    partition_column/oj.csv   weekly orange juice sales by Store (an integer) and Brand
    style_transfer/images/frame-N.png   small RGB frames
    style_transfer/mosaic.npy the "mosaic" style: a 3x3 colour matrix

Everything is deterministic, so the examples' outputs are known in advance
(the integration tests check them row by row). It needs numpy and PIL
(Debian: python3-numpy, python3-pil).
"""

import csv
import os
import pickle
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))

MNIST_IMAGES = 30
IRIS_FILES, IRIS_ROWS = 3, 20
STYLE_FRAMES = 12

# partition_folder: (path under dataset_partition_test, size in bytes)
SONGS = [
    ("chunyu/2019/piano.wav", 400),
    ("halit/2019/disco.wav", 100),
    ("halit/2019/orchestra.wav", 300),
    ("halit/2020/disco.wav", 200),
    ("kin/2020/spirituality.wav", 500),
    ("ramandeep/2021/piano.wav", 600),
]

# partition_column: (Store, Brand) groups, in the order of their first row.
OJ_GROUPS = [(1000, "tropicana"), (1001, "dominicks"), (1000, "dominicks"), (2, "minute.maid")]
OJ_WEEKS = ["1990-06-14", "1990-06-21", "1990-06-28", "1990-07-05"]

# The "mosaic" style: each output channel a mix of the input channels.
MOSAIC = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def digit_image(digit):
    """A 28x28 image whose bright band sits in columns 2*digit+4..+6."""
    img = np.full((28, 28), 10, dtype=np.uint8)
    img[4:24, 2 * digit + 4:2 * digit + 7] = 250
    return img


def mnist(out):
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    for i in range(MNIST_IMAGES):
        Image.fromarray(digit_image(i % 10), mode="L").save(os.path.join(out, "images", "%d.png" % i))
    # One linear layer: class d scores the pixels of its band.
    weights = np.zeros((784, 10))
    for d in range(10):
        weights[:, d] = (digit_image(d).reshape(784) > 100).astype(float)
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    np.save(os.path.join(out, "model", "weights.npy"), weights)
    np.save(os.path.join(out, "model", "bias.npy"), np.zeros(10))


IRIS_CENTRES = {
    "Setosa": (5.0, 3.4, 1.5, 0.25),
    "Versicolor": (6.0, 2.75, 4.25, 1.5),
    "Virginica": (6.5, 3.0, 5.5, 2.0),
}
VARIETIES = ["Setosa", "Versicolor", "Virginica"]


def iris_row(i):
    """Row i: its variety's centre, moved by a few tenths (values with one
    decimal)."""
    centre = IRIS_CENTRES[VARIETIES[i % 3]]
    shift = ((i * 7) % 5 - 2) / 10.0
    return [round(v + shift * (k % 2 * 2 - 1) * 0.5, 2) for k, v in enumerate(centre)]


def iris(out):
    sys.path.insert(0, os.path.join(HERE, "iris"))
    import iris_model  # the model's class, beside the entry script

    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    for f in range(IRIS_FILES):
        with open(os.path.join(out, "data", "iris-%d.csv" % f), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width"])
            for r in range(IRIS_ROWS):
                w.writerow(iris_row(f * IRIS_ROWS + r))
    model = iris_model.NearestCentroid(VARIETIES, [IRIS_CENTRES[v] for v in VARIETIES])
    with open(os.path.join(out, "iris_model.pkl"), "wb") as fh:
        pickle.dump(model, fh)


def partition_folder(out):
    for path, size in SONGS:
        p = os.path.join(out, "dataset_partition_test", path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(b"RIFF" + b"\0" * (size - 4))


def oj_rows():
    """Rows of oj.csv, the groups interleaved week by week."""
    rows = []
    for week, starting in enumerate(OJ_WEEKS):
        for g, (store, brand) in enumerate(OJ_GROUPS):
            rows.append([starting, store, brand, 10.5 + g + week * 0.25, 100 * (g + 1) + week])
    return rows


def partition_column(out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "oj.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["WeekStarting", "Store", "Brand", "INCOME", "Quantity"])
        w.writerows(oj_rows())


def frame(i):
    """A 16x12 RGB frame of colour bands that depend on i."""
    img = np.zeros((12, 16, 3), dtype=np.uint8)
    img[:, :, 0] = (np.arange(16) * 16 + i * 5) % 256
    img[:, :, 1] = (np.arange(12)[:, None] * 20 + i * 3) % 256
    img[:, :, 2] = 40 + i
    return img


def style_transfer(out):
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    for i in range(STYLE_FRAMES):
        Image.fromarray(frame(i), mode="RGB").save(os.path.join(out, "images", "frame-%02d.png" % i))
    np.save(os.path.join(out, "mosaic.npy"), MOSAIC)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    root = sys.argv[1]
    for name, make in [("mnist", mnist), ("iris", iris), ("partition_folder", partition_folder),
                       ("partition_column", partition_column), ("style_transfer", style_transfer)]:
        make(os.path.join(root, name))
    print("wrote the examples' data and models under", root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
