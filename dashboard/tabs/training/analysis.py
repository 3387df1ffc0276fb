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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import datasets, regions, zoo
from explorer.data import playground as playground_data
from explorer.training import evaluation
from explorer.training import playground as pg
from explorer.training.stepper import LOSSES, METHODS, OPTIMISERS, REGULARIZATIONS, Setup, Stepper

from ... import services
from ..bounds import SEED, TYPED_LIST
from .analysis_koopman import KoopmanAnalysis
from .recipe_text import FEATURES_TEXT, SCHEDULE_TEXT, parse_features, parse_hidden, parse_schedule, schedule_text

# as dashboard.state's (which imports Panel): a list typed by hand, no markup, bounded; a seed

MAX_STEPS = 20_000  # per session
MAX_SECONDS = 600.0  # of training compute per session
MAX_REGIONS = 10 * 2 ** 20  # the live partition's memory budget (bytes; ~20,000 regions of a small MLP): past it
# the frame shows the decision map on a grid
GRID_RESOLUTION = 120
RETRY_REGIONS = 20  # frames drawn on a grid before the exact partition is tried again
GALLERY = 12  # test images whose predictions the digits view shows
UNIT_RESOLUTION = 24  # grid points per axis of each unit's small heatmap
MAX_UNITS = 8  # units of a layer the network diagram shows
# the recipe: changing one starts a fresh network (the learning rate is not among them: it changes as
# the run goes on, and the change is kept in ``lr_schedule`` so that a link replays it)
BUILD = ("dataset", "noise", "train_percent", "features", "hidden", "activation", "init_scale", "optimiser",
         "batch_size", "weight_decay", "regularization", "reg_rate", "method", "loss", "seed", "snapshot_every")
PLAYGROUND_SETS = playground_data.NAMES
NEEDS_PIECEWISE_LINEAR = ("The exact linear regions need a piecewise-linear network (ReLU or linear activation, "
                          "inputs x1 and x2 only): this one is drawn on a grid.")


def trainable(data: datasets.Dataset) -> bool:
    """A dataset the tab can train a classifier on: labelled samples of at least two classes."""
    return not data.is_reconstruction and data.num_classes >= 2


def dataset_names(own: dict[str, datasets.Dataset] | None = None) -> list[str]:
    """The datasets to offer: the built-in ones, TensorFlow Playground's (gaussian, and the regression
    sets plane and multi-gaussian), the server's data folder's and ``own`` (a session's uploads, by
    name) that :func:`trainable` accepts."""
    extra = {**services.data_store.folder_datasets()[0], **(own or {})}
    return [*datasets.names(), *PLAYGROUND_SETS, *(name for name, data in extra.items() if trainable(data))]


@dataclass
class Frame:
    """What one frame of training shows: the step reached, the minibatch losses of its steps, the
    losses and accuracy there, and the exact regions (2-D, ``partition``), a decision map on a grid
    when they are too many or the net is not piecewise linear (``grid``), or the confusion matrix and
    the first test images' predictions (``confusion``, ``gallery``); the seconds spent training and
    measuring; the epochs done; for 2-D data the output on a grid (``output``: a decision map, or a
    regression's values; None where the exact regions filled by class show it), every unit's small
    heatmap (``units``) and the weight matrices (``weights``)."""

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
    epoch: int = 0
    output: evaluation.DecisionMap | np.ndarray | None = None
    units: pg.UnitMaps | None = None
    weights: list | None = None


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

    URL_SETTINGS = (*BUILD, "lr", "lr_schedule", "discretize", "show_train", "show_test", "step")

    dataset = param.Selector(default="moons", objects=[*datasets.names(), *PLAYGROUND_SETS],
                             doc="Name of the training data")
    noise = param.Number(default=None, allow_None=True, bounds=(0.0, 0.5),
                         doc="Noise of a built-in 2-D set (None: the set's own default)")
    train_percent = param.Integer(default=75, bounds=(10, 90), doc="Share of the data trained on (%)")
    features = param.String(default="", regex=FEATURES_TEXT,
                            doc="Feature inputs of 2-D points, e.g. x1,x2,x1^2 ('': x1 and x2)")
    hidden = param.String(default="16,16", regex=TYPED_LIST, doc="Hidden widths, e.g. 16,16 (at most 6 layers)")
    activation = param.Selector(default="relu", objects=list(pg.ACTIVATIONS), doc="Activation of the hidden layers")
    init_scale = param.Number(default=1.0, bounds=(1e-4, 10.0), doc="Factor on torch's initial weights")
    optimiser = param.Selector(default="adam", objects=list(OPTIMISERS), doc="The optimiser")
    lr = param.Number(default=0.01, bounds=(1e-5, 10.0), doc="Learning rate (changes without a reset)")
    lr_schedule = param.String(default="", regex=SCHEDULE_TEXT,
                               doc="The run's learning rates, step:rate,... (kept so that a link replays it)")
    batch_size = param.Integer(default=64, bounds=(0, 10_000), doc="Minibatch size (0: the full batch)")
    weight_decay = param.Number(default=0.0, bounds=(0.0, 1.0), doc="L2 weight decay")
    regularization = param.Selector(default="none", objects=list(REGULARIZATIONS),
                                    doc="Penalty on the weights: none, L1 or L2")
    reg_rate = param.Number(default=0.0, bounds=(0.0, 10.0), doc="Regularization rate")
    method = param.Selector(default="plain", objects=list(METHODS), doc="Recipe: plain, l1 or adversarial")
    loss = param.Selector(default="cross-entropy", objects=list(LOSSES), doc="Training criterion")
    seed = param.Integer(default=0, bounds=SEED, doc="Seed of the initial weights and the minibatches")
    snapshot_every = param.Integer(default=10, bounds=(1, 1000), doc="Steps between weight snapshots")
    discretize = param.Boolean(default=True, doc="Fill by predicted class (off: the output's value)")
    show_train = param.Boolean(default=False, doc="Show the training points")
    show_test = param.Boolean(default=True, doc="Show the test points")
    steps_per_frame = param.Integer(default=10, bounds=(1, 500), doc="Steps per frame while playing")
    step = param.Integer(default=0, bounds=(0, MAX_STEPS), doc="Steps trained (a link replays to here)")
    resolve = param.Callable(default=services.dataset, doc="Dataset name -> Dataset")

    def __init__(self, **params):
        super().__init__(**params)
        self.target = self.step  # the step a link asks for (0: none)
        self.koopman = KoopmanAnalysis()
        self._lr_lock, self._stepping, self._pending_lr = threading.Lock(), False, None
        self._build()

    # -- the run ------------------------------------------------------------------------------------
    def setup(self) -> Setup:
        """The :class:`~explorer.training.stepper.Setup` of the recipe (raises ValueError for a bad one)."""
        return Setup(dataset=self.dataset, hidden=parse_hidden(self.hidden), activation=self.activation,
                     features=parse_features(self.features), init_scale=self.init_scale,
                     optimiser=self.optimiser, lr=self.lr, lr_schedule=parse_schedule(self.lr_schedule),
                     batch_size=self.batch_size, weight_decay=self.weight_decay,
                     regularization=self.regularization, reg_rate=self.reg_rate, method=self.method,
                     loss=self.loss, seed=self.seed, snapshot_every=self.snapshot_every)

    def load_data(self) -> datasets.Dataset:
        """The recipe's data: a built-in 2-D set with its noise and split, digits with its split, or
        the set ``resolve`` names (an upload, the data folder's; noise and split do not apply)."""
        test_fraction = 1 - self.train_percent / 100
        name = self.dataset
        if name in PLAYGROUND_SETS:
            return playground_data.load(name, noise=self.noise or 0.0, test_fraction=test_fraction)
        if self.noise is None and self.train_percent == 75:
            return self.resolve(name)  # as the other tabs have it
        if name in datasets.TOY_SETS:
            return datasets.toy_2d(name, noise=self.noise, test_fraction=test_fraction)
        if name == "digits":
            return datasets.digits(test_fraction=test_fraction)
        return self.resolve(name)

    @param.depends(*BUILD, watch=True)
    def reset(self) -> None:
        """A fresh network from the recipe (at the learning rate now set), at step 0; a recipe
        refused leaves no run and says why."""
        self.lr_schedule = ""
        self._build()

    def _build(self) -> None:
        self.used_seconds, self.frames, self.last_frame = 0.0, [], None
        self._grid_frames, self.box = 0, None
        self.koopman.last = None
        try:
            self.stepper, self.problem = Stepper(self.setup(), self.load_data()), ""
        except (ValueError, datasets.DatasetError) as exc:
            self.stepper, self.problem = None, str(exc)
            return
        if self.is_2d:
            self.box = evaluation.data_box(np.concatenate([self.data.X_train, self.data.X_test]))
        self.step = 0

    @param.depends("lr", watch=True)
    def _change_lr(self) -> None:
        """A new learning rate from the next step on: the net, its optimiser's state and the step stay."""
        with self._lr_lock:  # while a frame trains, its own thread takes the change before its next step
            self._pending_lr = float(self.lr)
            if not self._stepping:
                self._apply_lr()
        self._sync_schedule()

    def _apply_lr(self) -> None:
        """Hand a pending learning rate to the run (holding ``_lr_lock``, between two steps)."""
        if self._pending_lr is not None and self.stepper is not None and self._pending_lr != self.stepper.lr:
            self.stepper.set_lr(self._pending_lr)
        self._pending_lr = None

    def _sync_schedule(self) -> None:
        s = self.stepper
        if s is not None:
            self.lr_schedule = schedule_text(s.setup) if s.setup.lr_schedule else ""

    @property
    def is_regression(self) -> bool:
        return self.stepper is not None and self.stepper.regression

    @property
    def piecewise_linear(self) -> bool:
        """Whether the net is piecewise linear in its inputs (what the exact regions need)."""
        s = self.stepper.setup
        return s.activation in ("relu", "linear") and set(s.features) <= set(pg.LINEAR_FEATURES)

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

        def stop_or_new_rate() -> bool:  # before every step: a learning rate changed meanwhile applies now
            with self._lr_lock:
                if s is self.stepper:
                    self._apply_lr()
            return stop is not None and stop()

        t0 = time.perf_counter()
        with self._lr_lock:
            self._stepping = True
        try:
            report = s.step(room, stop=stop_or_new_rate) if n else None
        finally:
            with self._lr_lock:
                self._stepping = False
                if s is self.stepper:
                    self._apply_lr()
        t1 = time.perf_counter()
        self.used_seconds += t1 - t0
        part = confusion = gallery = grid = output = units = weights = None
        model = s.trained_model()
        if is_2d:
            units, weights = pg.unit_maps(model, box, UNIT_RESOLUTION, MAX_UNITS), pg.layer_weights(model)
        if is_2d and (self._grid_frames > 0 or not self.piecewise_linear):
            self._grid_frames = max(0, self._grid_frames - 1)  # too many regions lately: the grid, retry later
            grid = output = self.output_map(model, box)
        elif is_2d:
            try:
                part = regions.partition_2d(model, box=box, max_regions=MAX_REGIONS)
            except regions.TooManyRegionsError:
                self._grid_frames = RETRY_REGIONS
                grid = output = self.output_map(model, box)
            if output is None and (s.regression or not self.discretize):  # the regions filled by class need none
                output = self.output_map(model, box)
        else:
            pred = evaluation.predict_proba(model, s.data.X_test).argmax(1)
            confusion = evaluation.confusion_matrix(s.data.y_test, pred, s.data.num_classes)
            gallery = pred[:GALLERY]
        train, test, acc = s.measure()
        losses = report.batch_losses if report is not None else np.zeros(0)
        return Frame(s.step_count, losses, train, test, acc, part, confusion, gallery, grid, t1 - t0,
                     time.perf_counter() - t1, bool(report and report.diverged), s.epoch, output, units, weights)

    def output_map(self, model: nn.Module | None = None, box: tuple | None = None):
        """The output of the net (default: the run's now) on the grid over the data's box: a decision
        map, or a regression's values."""
        model = model if model is not None else self.stepper.trained_model()
        box = box if box is not None else self.box
        return (pg.value_map(model, box, resolution=GRID_RESOLUTION) if self.stepper.regression
                else evaluation.decision_map(model, box, resolution=GRID_RESOLUTION))

    def record(self, frame: Frame) -> Frame:
        """Keep ``frame`` (a frame of the current run) as the latest; :attr:`step` (the link) follows."""
        self.frames.append(frame)
        self.last_frame = frame
        self.step = frame.step
        self._sync_schedule()
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
