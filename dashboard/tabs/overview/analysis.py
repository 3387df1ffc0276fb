"""The Overview tab's numbers: what the model does to its data.

A classifier: its test accuracy and confusion matrix, one test sample's class probabilities, the
decision map over the input plane (2-D data), the predictions on the first test images, and two
chosen features of tabular data. A reconstruction network (measurements in, a signal out): one
test signal against its reconstruction and the relative errors over the test signals.

No Panel here: a notebook or a test drives :class:`OverviewAnalysis` directly. Results are computed
once per process (:func:`dashboard.memo.memoize`).

Example
-------
>>> from explorer import datasets, zoo
>>> analysis = OverviewAnalysis(model=zoo.load("moons-mlp"), dataset=datasets.load("moons"))
>>> summary = analysis.summary()
>>> int(summary["confusion"].sum()) == summary["test_samples"] == len(datasets.load("moons").y_test)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import param
import torch
from torch import nn

from explorer import datasets
from explorer.inverse import reconstruction
from explorer.nets.threads import single_threaded
from explorer.training import evaluation

from ... import services
from ...memo import memoize
from ..bounds import SAMPLE_INDEX

GALLERY_SIZE = 12


@memoize(max_items=64)
def evaluated(model: nn.Module, data: datasets.Dataset) -> evaluation.Evaluation:
    """The classifier on the data's test split: probabilities, predictions, accuracy, confusion."""
    return evaluation.evaluate(model, data.X_test, data.y_test, data.num_classes)


@memoize(max_items=64)
def relative_errors(model: nn.Module, data: datasets.Dataset) -> np.ndarray:
    """||model(y) - x|| / ||x|| on each test measurement of a reconstruction set."""
    return reconstruction.relative_errors(model, data.X_test, data.targets_test)


class OverviewAnalysis(param.Parameterized):
    """Accuracy, confusion, a sample's probabilities, the decision map; a reconstruction net's errors.

    Parameters
    ----------
    model : nn.Module
        A classifier of the dataset's samples, or a reconstruction network of its measurements.
    dataset : explorer.datasets.Dataset
        The data it is shown on (its test split).
    sample, resolution, feature_x, feature_y
        The tab's settings (see each parameter's doc).
    """

    URL_SETTINGS = ("sample", "resolution", "feature_x", "feature_y")

    model = param.ClassSelector(class_=nn.Module, doc="The network shown")
    dataset = param.ClassSelector(class_=datasets.Dataset, doc="The data it is shown on")
    sample = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test sample whose probabilities are shown")
    resolution = param.Integer(default=200, bounds=(20, 600), doc="Grid points per side of the decision map")
    feature_x = param.Integer(default=0, bounds=(0, datasets.MAX_VALUES), doc="Tabular data: the feature along x")
    feature_y = param.Integer(default=1, bounds=(0, datasets.MAX_VALUES), doc="Tabular data: the feature along y")

    @property
    def is_2d(self) -> bool:
        return self.dataset.num_features == 2

    def shown_sample(self) -> int:
        """The chosen test sample, within the test split."""
        return min(self.sample, len(self.dataset.X_test) - 1)

    # -- a classifier -------------------------------------------------------------------------------
    def evaluation(self) -> evaluation.Evaluation:
        return evaluated(self.model, self.dataset)

    def summary(self) -> dict:
        """Accuracy, the number of test samples and the confusion matrix."""
        ev = self.evaluation()
        return {"accuracy": ev.accuracy, "test_samples": len(ev.predictions), "confusion": ev.confusion}

    def confusion_table(self) -> pd.DataFrame:
        """The confusion matrix as a table: one row per true class, one column per predicted class."""
        names = [str(name) for name in self.dataset.class_names]
        table = pd.DataFrame(self.evaluation().confusion, columns=[f"predicted {n}" for n in names])
        table.insert(0, "true", names)
        return table

    def decision_map(self) -> evaluation.DecisionMap:
        """The predicted class on a grid over the box around the data (2-D data)."""
        data = self.dataset
        box = evaluation.data_box(np.concatenate([data.X_train, data.X_test]))
        return services.decision_map(self.model, box, self.resolution)

    def probabilities(self) -> pd.DataFrame:
        """The chosen sample's probability of each class."""
        i = self.shown_sample()
        return pd.DataFrame({"class": [str(name) for name in self.dataset.class_names],
                             "probability": self.evaluation().probabilities[i]})

    def predictions(self, count: int = GALLERY_SIZE) -> pd.DataFrame:
        """The first ``count`` test samples: predicted class, its probability, true class."""
        data, ev = self.dataset, self.evaluation()
        n = min(count, len(data.X_test))
        predicted = ev.predictions[:n].astype(int)
        return pd.DataFrame({"sample": np.arange(n), "predicted": predicted,
                             "probability": ev.probabilities[np.arange(n), predicted],
                             "true": data.y_test[:n].astype(int)})

    def feature_names(self) -> list[str]:
        data = self.dataset
        return list(data.feature_names or [f"feature {k}" for k in range(data.num_features)])

    def feature_pair(self) -> tuple[int, int]:
        """The two features the tabular scatter shows (the same one twice for one-feature data)."""
        n = self.dataset.num_features
        return min(self.feature_x, n - 1), min(self.feature_y, n - 1)

    # -- a reconstruction network ---------------------------------------------------------------------
    def reconstruction_errors(self) -> np.ndarray:
        """||net(y) - x|| / ||x|| on each test measurement."""
        return relative_errors(self.model, self.dataset)

    def reconstruction(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(true signal, reconstruction, relative error) of the chosen test measurement."""
        data, i, model = self.dataset, self.shown_sample(), self.model
        with torch.no_grad(), single_threaded():
            out = model(torch.as_tensor(data.X_test[i:i + 1], dtype=next(model.parameters()).dtype))
        return data.targets_test[i], out[0].double().numpy(), float(self.reconstruction_errors()[i])
