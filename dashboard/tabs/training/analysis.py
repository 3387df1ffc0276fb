"""The Training tab's numbers: a ReLU network built from a recipe, trained a few steps at a time.

No Panel here: a notebook or a test drives :class:`TrainingAnalysis` directly, and the tab's view
draws what it returns. Every number comes from :mod:`explorer.training.stepper` (the seeded run),
:mod:`explorer.regions` (the exact regions of a frame's weights, 2-D data),
:mod:`explorer.training.evaluation` (decision map, confusion matrix) and, through
:class:`~dashboard.tabs.training.analysis_koopman.KoopmanAnalysis`, :mod:`explorer.koopman`.

A session may train at most :data:`MAX_STEPS` steps and :data:`MAX_SECONDS` of compute. The
recipe and the step reached are the tab's link settings (:attr:`TrainingAnalysis.URL_SETTINGS`),
so a link replays the run. The steps run in the calling thread (the app's: a worker thread of the
server process), not in :mod:`dashboard.serving.jobs`; ``docs/architecture.md`` gives the measurements why.

Example
-------
>>> analysis = TrainingAnalysis(dataset="moons", hidden="8,8", seed=1)
>>> frame = analysis.advance(20)
>>> analysis.step, frame.partition.num_regions == int(analysis.history()["regions"].iloc[-1])
(20, True)
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import datasets, regions, zoo
from explorer.training import evaluation
from explorer.training.stepper import LOSSES, METHODS, OPTIMISERS, Setup, Stepper

from ... import services
from ..bounds import SEED, TYPED_LIST
from .analysis_koopman import KoopmanAnalysis

# as dashboard.state's (which imports Panel): a list typed by hand, no markup, bounded; a seed

MAX_STEPS = 20_000  # per session
MAX_SECONDS = 600.0  # of training compute per session
MAX_REGIONS = 10 * 2 ** 20  # the live partition's memory budget (bytes; ~20,000 regions of a small MLP): past it
# the frame shows the decision map on a grid
GRID_RESOLUTION = 120
RETRY_REGIONS = 20  # frames drawn on a grid before the exact partition is tried again
GALLERY = 12  # test images whose predictions the digits view shows
BUILD = ("dataset", "hidden", "init_scale", "optimiser", "lr", "batch_size", "weight_decay", "method",
         "loss", "seed", "snapshot_every")


def parse_hidden(text: str) -> tuple:
    """'16, 16' -> (16, 16); '' -> () (a linear model)."""
    try:
        return tuple(int(t) for t in str(text).replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise ValueError(f"Hidden widths are whole numbers separated by commas, like 16,16 (not '{text}').")


def trainable(data: datasets.Dataset) -> bool:
    """A dataset the tab can train a classifier on: labelled samples of at least two classes."""
    return not data.is_reconstruction and data.num_classes >= 2


def dataset_names(own: dict[str, datasets.Dataset] | None = None) -> list[str]:
    """The datasets to offer: the built-in ones, the server's data folder's and ``own`` (a session's
    uploads, by name) that :func:`trainable` accepts."""
    extra = {**services.data_store.folder_datasets()[0], **(own or {})}
    return [*datasets.names(), *(name for name, data in extra.items() if trainable(data))]


@dataclass
class Frame:
    """What one frame of training shows: the step reached, the minibatch losses of its steps, the
    losses and accuracy there, and the exact regions (2-D, ``partition``), a decision map on a grid
    when they are too many (``grid``), or the confusion matrix and the first test images'
    predictions (``confusion``, ``gallery``); the seconds spent training and measuring."""

    step: int
    batch_losses: np.ndarray
    train_loss: float
    test_loss: float
    test_accuracy: float
    partition: regions.Partition | None
    confusion: np.ndarray | None
    gallery: np.ndarray | None
    grid: evaluation.DecisionMap | None
    step_seconds: float
    region_seconds: float
    diverged: bool


class TrainingAnalysis(param.Parameterized):
    """A training run from its recipe: step it, measure it, fit its Koopman view, hand the net on.

    Parameters
    ----------
    dataset, hidden, init_scale, optimiser, lr, batch_size, weight_decay, method, loss, seed, snapshot_every
        The recipe (see each parameter's doc); changing one starts a fresh network.
    step
        The steps trained; given at construction, the step a link asks for (:attr:`target`).
    steps_per_frame
        Steps per frame while the tab plays.
    resolve : callable, optional
        ``name -> Dataset`` (default: the built-in and the data folder's; the app also resolves
        the session's uploads).

    Attributes
    ----------
    stepper : explorer.training.stepper.Stepper or None
        The run (None when the recipe is refused: :attr:`problem` says why).
    koopman : KoopmanAnalysis
        The Koopman fit's settings and its last result.
    """

    URL_SETTINGS = (*BUILD, "step")

    dataset = param.Selector(default="moons", objects=datasets.names(), doc="Name of the training data")
    hidden = param.String(default="16,16", regex=TYPED_LIST, doc="Hidden widths, e.g. 16,16 (at most 6 layers)")
    init_scale = param.Number(default=1.0, bounds=(1e-4, 10.0), doc="Factor on torch's initial weights")
    optimiser = param.Selector(default="adam", objects=list(OPTIMISERS), doc="The optimiser")
    lr = param.Number(default=0.01, bounds=(1e-5, 10.0), doc="Learning rate")
    batch_size = param.Integer(default=64, bounds=(0, 10_000), doc="Minibatch size (0: the full batch)")
    weight_decay = param.Number(default=0.0, bounds=(0.0, 1.0), doc="L2 weight decay")
    method = param.Selector(default="plain", objects=list(METHODS), doc="Recipe: plain, l1 or adversarial")
    loss = param.Selector(default="cross-entropy", objects=list(LOSSES), doc="Training criterion")
    seed = param.Integer(default=0, bounds=SEED, doc="Seed of the initial weights and the minibatches")
    snapshot_every = param.Integer(default=10, bounds=(1, 1000), doc="Steps between weight snapshots")
    steps_per_frame = param.Integer(default=10, bounds=(1, 500), doc="Steps per frame while playing")
    step = param.Integer(default=0, bounds=(0, MAX_STEPS), doc="Steps trained (a link replays to here)")
    resolve = param.Callable(default=services.dataset, doc="Dataset name -> Dataset")

    def __init__(self, **params):
        super().__init__(**params)
        self.target = self.step  # the step a link asks for (0: none)
        self.koopman = KoopmanAnalysis()
        self.reset()

    # -- the run ------------------------------------------------------------------------------------
    def setup(self) -> Setup:
        """The :class:`~explorer.training.stepper.Setup` of the recipe (raises ValueError for a bad one)."""
        return Setup(dataset=self.dataset, hidden=parse_hidden(self.hidden), init_scale=self.init_scale,
                     optimiser=self.optimiser, lr=self.lr, batch_size=self.batch_size,
                     weight_decay=self.weight_decay, method=self.method, loss=self.loss, seed=self.seed,
                     snapshot_every=self.snapshot_every)

    @param.depends(*BUILD, watch=True)
    def reset(self) -> None:
        """A fresh network from the recipe, at step 0; a recipe refused leaves no run and says why."""
        self.used_seconds, self.frames, self.last_frame = 0.0, [], None
        self._grid_frames, self.box = 0, None
        self.koopman.last = None
        try:
            self.stepper, self.problem = Stepper(self.setup(), self.resolve(self.dataset)), ""
        except ValueError as exc:
            self.stepper, self.problem = None, str(exc)
            return
        if self.is_2d:
            self.box = evaluation.data_box(np.concatenate([self.data.X_train, self.data.X_test]))
        self.step = 0

    @property
    def data(self) -> datasets.Dataset:
        return self.stepper.data

    @property
    def is_2d(self) -> bool:
        return self.stepper is not None and self.stepper.data.num_features == 2

    def advance(self, n: int, stop: Callable[[], bool] | None = None) -> Frame:
        """Train ``n`` steps (fewer when ``stop()`` turns true or the budget ends), measure the net
        there and keep the frame (:meth:`history`, :attr:`step`). ``advance(0)`` measures only."""
        return self.record(self.train(n, stop))

    def train(self, n: int, stop: Callable[[], bool] | None = None) -> Frame:
        """:meth:`advance` without keeping the frame: the part the app runs in a worker thread
        (the settings, which the page shows, change in :meth:`record`, on the page's own turn)."""
        s, is_2d, box = self.stepper, self.is_2d, self.box  # a reset meanwhile makes new ones
        if s is None:
            raise ValueError(self.problem)
        room = min(n, MAX_STEPS - s.step_count)
        if n and (room <= 0 or self.used_seconds >= MAX_SECONDS):
            raise RuntimeError(f"This session's training budget is used up ({MAX_STEPS} steps, "
                               f"{MAX_SECONDS:.0f} s); reset to start again.")
        t0 = time.perf_counter()
        report = s.step(room, stop=stop) if n else None
        t1 = time.perf_counter()
        self.used_seconds += t1 - t0
        part = confusion = gallery = grid = None
        model = s.trained_model()
        if is_2d and self._grid_frames > 0:  # too many regions lately: the grid only, retry later
            self._grid_frames -= 1
            grid = evaluation.decision_map(model, box, resolution=GRID_RESOLUTION)
        elif is_2d:
            try:
                part = regions.partition_2d(model, box=box, max_regions=MAX_REGIONS)
            except regions.TooManyRegionsError:
                self._grid_frames = RETRY_REGIONS
                grid = evaluation.decision_map(model, box, resolution=GRID_RESOLUTION)
        else:
            pred = evaluation.predict_proba(model, s.data.X_test).argmax(1)
            confusion = evaluation.confusion_matrix(s.data.y_test, pred, s.data.num_classes)
            gallery = pred[:GALLERY]
        train, test, acc = s.measure()
        losses = report.batch_losses if report is not None else np.zeros(0)
        return Frame(s.step_count, losses, train, test, acc, part, confusion, gallery, grid, t1 - t0,
                     time.perf_counter() - t1, bool(report and report.diverged))

    def record(self, frame: Frame) -> Frame:
        """Keep ``frame`` (a frame of the current run) as the latest; :attr:`step` (the link) follows."""
        self.frames.append(frame)
        self.last_frame = frame
        self.step = frame.step
        return frame

    def run_to(self, target: int, stop: Callable[[], bool] | None = None) -> Frame:
        """Train until ``target`` steps are done (a link's step) and measure there."""
        return self.advance(max(0, int(target) - self.stepper.step_count), stop)

    # -- what the run shows ---------------------------------------------------------------------------
    def history(self) -> pd.DataFrame:
        """One row per frame: the step, train and test loss, test accuracy and (2-D data, exact
        partition) the number of activation regions (NaN where the frame drew a grid)."""
        return pd.DataFrame({
            "step": [f.step for f in self.frames],
            "train loss": [f.train_loss for f in self.frames],
            "test loss": [f.test_loss for f in self.frames],
            "test accuracy": [f.test_accuracy for f in self.frames],
            "regions": [f.partition.num_regions if f.partition is not None else np.nan for f in self.frames]})

    def batch_losses(self) -> pd.DataFrame:
        """Every optimiser step's minibatch loss so far."""
        losses = np.asarray(self.stepper.batch_losses)
        return pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses})

    def confusion_table(self, frame: Frame | None = None) -> pd.DataFrame:
        """The confusion matrix of a frame (default: the last), a row per true class named in a
        "true" column, a column per predicted class."""
        names = self.stepper.data.class_names
        matrix = (frame or self.last_frame).confusion
        return pd.DataFrame({"true": [f"true {n}" for n in names],
                             **{f"pred {n}": matrix[:, j] for j, n in enumerate(names)}})

    def class_names(self) -> list[str]:
        return [str(name) for name in self.stepper.data.class_names]

    # -- the trained net elsewhere --------------------------------------------------------------------
    def model_name(self) -> str:
        """The name the trained net gets among the session's models (recipe and step)."""
        widths = "-".join(str(w) for w in (self.stepper.data.num_features, *self.stepper.setup.hidden,
                                           self.stepper.data.num_classes))
        return f"trained: {self.dataset} {widths} seed {self.seed} step {self.stepper.step_count}"

    def trained_model(self) -> nn.Module:
        """A frozen copy of the net, keyed for the caches by its weights and the architecture they fill."""
        model = self.stepper.trained_model()
        digest = hashlib.sha256(self.stepper.weights().tobytes() + repr(self.stepper.layout()).encode())
        model.explorer_key = "trained:" + digest.hexdigest()
        return model

    def checkpoint_bytes(self) -> bytes:
        """The trained net as a checkpoint file that the app's upload accepts."""
        with tempfile.TemporaryDirectory() as tmp:
            path = zoo.save(self.stepper.trained_model(), Path(tmp) / "trained.pt",
                            input_shape=(self.stepper.data.num_features,),
                            class_names=self.stepper.data.class_names)
            return path.read_bytes()

    # -- the Koopman view -----------------------------------------------------------------------------
    def koopman_fit(self):
        """Fit the Koopman window ending at the latest snapshot and check its jump against training
        (:meth:`KoopmanAnalysis.fit`): ``(KoopmanFit, Forecast)``."""
        if self.stepper is None:
            raise ValueError(self.problem)
        return self.koopman.fit(self.stepper)
