"""The iris example's model class: what iris_model.pkl holds.

ParallelRunStep's iris notebook registers a scikit-learn model; this one is
a nearest-centroid classifier in numpy, so that the example runs with
Debian's python3-numpy alone. pickle.load finds this class because the
source folder, which holds it, is on the entry script's import path.
"""

import numpy as np


class NearestCentroid:
    """Predicts the variety whose centre is nearest (first four columns)."""

    def __init__(self, varieties, centres):
        self.varieties = list(varieties)
        self.centres = np.asarray(centres, dtype=float)

    def predict(self, frame):
        x = np.asarray(frame.iloc[:, :4], dtype=float)
        d = ((x[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(self.varieties, dtype=object)[d.argmin(axis=1)]
