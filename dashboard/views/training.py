"""Training tab: build a ReLU network, train it live, read the Koopman spectrum of training.

Play runs a few optimiser steps per frame in a worker thread (the event loop only
draws), then the exact linear regions of the frame's weights (2-D data) or the
confusion matrix (digits). Pause stops the steps at once (the stepper checks before
every step). A session may train at most ``MAX_STEPS`` steps and ``MAX_SECONDS`` of
compute. The recipe and the step reached live in the URL, so a link replays the run.
Every number comes from :mod:`explorer.models.stepper`, :mod:`explorer.regions` and
:mod:`explorer.koopman`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from explorer import regions, zoo
from explorer.training import evaluation
from explorer.training.stepper import LOSSES, METHODS, OPTIMISERS, Setup, Stepper

from .. import services
from ..safe_text import message, quoted
from ..state import TYPED_LIST, AppState
from .common import CLASS_COLORS, csv_download
from .training_koopman import KoopmanPanel

MAX_STEPS = 20_000  # per session
MAX_SECONDS = 600.0  # of training compute per session
MAX_REGIONS = 20_000
REPLAY_CHUNK = 200  # steps per frame while a link's run is replayed
RETRY_REGIONS = 20  # frames drawn on a grid before the exact partition is tried again
GALLERY = 12  # test images whose predictions the digits view shows
FRAME_MS = 100  # the player asks for a frame this often; a frame still running makes it skip one (counted)
BUILD = ("dataset", "hidden", "init_scale", "optimiser", "lr", "batch_size", "weight_decay", "method",
         "loss", "seed", "snapshot_every")


def parse_hidden(text: str) -> tuple:
    """'16, 16' -> (16, 16); '' -> () (a linear model)."""
    try:
        return tuple(int(t) for t in str(text).replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise ValueError(f"Hidden widths are whole numbers separated by commas, like 16,16 (not '{text}').")


@dataclass
class Frame:
    """What a frame draws: computed in the worker thread, drawn on the event loop."""

    step: int
    batch_losses: np.ndarray
    train_loss: float
    test_loss: float
    test_accuracy: float
    partition: object | None
    confusion: np.ndarray | None
    gallery: np.ndarray | None  # the predictions for the first GALLERY test samples (image data)
    grid: object | None  # a decision map on a grid, when the regions are too many to draw live
    step_seconds: float
    region_seconds: float
    diverged: bool


class TrainingView(pn.viewable.Viewer):
    """Build, play / pause / step / reset, live curves and regions, the Koopman panel."""

    URL_SETTINGS = (*BUILD, "step")

    state = param.ClassSelector(class_=AppState)
    dataset = param.Selector(default="moons", objects=services.datasets.names())
    hidden = param.String(default="16,16", regex=TYPED_LIST,
                          doc="Hidden widths, e.g. 16,16 (at most 6 layers)")
    init_scale = param.Number(default=1.0, bounds=(1e-4, 10.0))
    optimiser = param.Selector(default="adam", objects=list(OPTIMISERS))
    lr = param.Number(default=0.01, bounds=(1e-5, 10.0))
    batch_size = param.Integer(default=64, bounds=(0, 10_000), doc="0: the full batch")
    weight_decay = param.Number(default=0.0, bounds=(0.0, 1.0))
    method = param.Selector(default="plain", objects=list(METHODS))
    loss = param.Selector(default="cross-entropy", objects=list(LOSSES))
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1))
    snapshot_every = param.Integer(default=10, bounds=(1, 1000))
    steps_per_frame = param.Integer(default=10, bounds=(1, 500))
    step = param.Integer(default=0, bounds=(0, MAX_STEPS), doc="Steps trained (a link replays to here)")

    def __init__(self, **params):
        super().__init__(**params)
        target = self.step
        self._doc = pn.state.curdoc
        self._running = False
        self._target = None  # the step a link asks for, while the player replays to it
        self._stop_requested = True
        self._busy = False
        self._callback = None
        self._used_seconds = 0.0
        self._grid_frames = 0
        self._skipped = 0
        self._frames: list[float] = []
        self._message = pn.pane.Alert("", alert_type="warning", visible=False)
        self._status = pn.pane.Markdown("", css_classes=["training-status"])
        self._make_sources()
        self._controls = self._make_controls()
        self.koopman = KoopmanPanel(self)
        self._live = pn.Column()
        self._layout = pn.Row(self._controls, pn.Column(self._message, self._status, self._live, self.koopman,
                                                        sizing_mode="stretch_width"))
        self.reset()
        self.param.watch(lambda e: self.on_document(self.reset), list(BUILD))
        if target:
            self._schedule_replay(target)

    # -- the run ------------------------------------------------------------------------------
    def setup(self) -> Setup:
        return Setup(dataset=self.dataset, hidden=parse_hidden(self.hidden), init_scale=self.init_scale,
                     optimiser=self.optimiser, lr=self.lr, batch_size=self.batch_size,
                     weight_decay=self.weight_decay, method=self.method, loss=self.loss, seed=self.seed,
                     snapshot_every=self.snapshot_every)

    def reset(self) -> None:
        """A fresh network from the build settings (training stops)."""
        self.pause()
        try:
            self.stepper = Stepper(self.setup(), services.dataset(self.dataset))
        except ValueError as exc:
            self.stepper = None
            self._live.objects = []
            self._say(message(exc))
            return
        self._say("")
        data = self.stepper.data
        self.is_2d = data.num_features == 2
        self.box = evaluation.data_box(np.concatenate([data.X_train, data.X_test])) if self.is_2d else None
        self._used_seconds, self._skipped, self._frames, self._grid_frames = 0.0, 0, [], 0
        for source in (self.loss_source, self.eval_source, self.region_source):
            source.data = {k: [] for k in source.data}
        self.with_param_step(0)
        self._confusion = pn.pane.DataFrame(None) if not self.is_2d else None
        self._draw(self.compute_frame(0))
        self._draw_points()
        plots = self.curve_figures()
        if self.is_2d:
            self._live.objects = [pn.Row(self.region_figure(), pn.Column(*plots))]
        else:
            gallery = [self.gallery_figure()] if self.stepper.data.image_shape else []
            self._draw_gallery(self.last_frame)
            confusion = csv_download(self.confusion_table, "training-confusion.csv")
            self._live.objects = [pn.Row(pn.Column(*plots), pn.Column(*gallery, "**Confusion matrix (test set)**",
                                                                       self._confusion, confusion))]
        self.koopman.clear()

    def with_param_step(self, step: int) -> None:
        self.step = step  # the URL follows (a link replays to here)

    def compute_frame(self, n: int) -> Frame:
        """Train ``n`` steps (stopping at once on pause) and measure the frame. Runs in a worker thread."""
        s, is_2d, box = self.stepper, self.is_2d, self.box  # a reset meanwhile makes new ones
        room = min(n, MAX_STEPS - s.step_count)
        if n and (room <= 0 or self._used_seconds >= MAX_SECONDS):
            raise RuntimeError(f"This session's training budget is used up ({MAX_STEPS} steps, "
                               f"{MAX_SECONDS:.0f} s); reset to start again.")
        t0 = time.perf_counter()
        report = s.step(room, stop=lambda: self._stop_now) if n else None
        t1 = time.perf_counter()
        self._used_seconds += t1 - t0
        part = confusion = gallery = None
        model = s.trained_model()
        grid = None
        if is_2d and self._grid_frames > 0:  # too many regions lately: the grid only, retry later
            self._grid_frames -= 1
            grid = evaluation.decision_map(model, box, resolution=120)
        elif is_2d:
            try:
                part = regions.partition_2d(model, box=box, max_regions=MAX_REGIONS)
            except regions.TooManyRegionsError:
                self._grid_frames = RETRY_REGIONS
                grid = evaluation.decision_map(model, box, resolution=120)
        else:
            pred = evaluation.predict_proba(model, s.data.X_test).argmax(1)
            confusion = evaluation.confusion_matrix(s.data.y_test, pred, s.data.num_classes)
            gallery = pred[:GALLERY]
        train, test, acc = s.measure()
        losses = report.batch_losses if report is not None else np.zeros(0)
        return Frame(s.step_count, losses, train, test, acc, part, confusion, gallery, grid, t1 - t0,
                     time.perf_counter() - t1, bool(report and report.diverged))

    # -- play / pause / step ----------------------------------------------------------------------
    @property
    def _stop_now(self) -> bool:
        return self._stop_requested

    async def _tick(self) -> None:
        if self._busy:
            self._skipped += 1
            return
        if self._target is None:
            await self.advance(self.steps_per_frame)
            return
        await self.advance(min(REPLAY_CHUNK, self._target - self.stepper.step_count))
        if self.stepper.step_count >= self._target:
            self._target = None
            self.pause()

    async def advance(self, n: int) -> None:
        """One frame: ``n`` steps in a worker thread, then draw."""
        if self.stepper is None or self._busy:
            return
        self._busy = True
        start, stepper = time.perf_counter(), self.stepper
        try:
            frame = await asyncio.to_thread(self.compute_frame, n)
            if stepper is not self.stepper:
                return  # reset while the frame ran: it belongs to the old network
            self._frames = (self._frames + [time.perf_counter() - start])[-20:]
            self.on_document(lambda: self._draw(frame))
            if frame.diverged:
                self._say("The loss stopped being finite: training diverged. Lower the learning rate and reset.")
                self.pause()
        except Exception as exc:  # shown to the user, the server keeps going
            self.pause()
            self._say(message(exc if isinstance(exc, (ValueError, RuntimeError)) else f"{type(exc).__name__}: {exc}"))
        finally:
            self._busy = False

    def play(self, event=None) -> None:
        if self.stepper is None or self._running:
            return
        self._running, self._stop_requested = True, False
        self._callback = pn.state.add_periodic_callback(self._tick, period=FRAME_MS)
        self._play.disabled, self._pause.disabled = True, False

    def _on_pause(self, event) -> None:
        self._stop_requested = True  # the stepper stops before its next step
        self._target = None
        self.on_document(self.pause)

    def pause(self) -> None:
        self._stop_requested = True
        self._running = False
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if hasattr(self, "_play"):
            self._play.disabled, self._pause.disabled = False, True

    async def single_step(self, event=None) -> None:
        self.pause()
        self._stop_requested = False
        await self.advance(1)
        self._stop_requested = True

    def replay_to(self, target: int) -> None:
        """Train to ``target`` steps (a link's step) and draw: synchronous, for tests and notebooks."""
        self._stop_requested = False
        self._draw(self.compute_frame(max(0, target - self.stepper.step_count)))
        self._stop_requested = True

    def _schedule_replay(self, target: int) -> None:
        """Served: the player trains to ``target`` in frames of up to REPLAY_CHUNK steps, then pauses."""
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._target = min(int(target), MAX_STEPS)
            self.play()
        else:
            self.replay_to(target)

    def on_document(self, fn) -> None:
        """Run ``fn`` (which changes bokeh models) holding the session's document lock: at the next
        tick when served (a button's async callback runs without it), at once otherwise."""
        doc = self._doc
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(fn)
        else:
            fn()

    # -- the trained net elsewhere ----------------------------------------------------------------
    def model_name(self) -> str:
        widths = "-".join(str(w) for w in (self.stepper.data.num_features, *self.stepper.setup.hidden,
                                           self.stepper.data.num_classes))
        return f"trained: {self.dataset} {widths} seed {self.seed} step {self.stepper.step_count}"

    def use_model(self, event=None) -> str:
        """Make the trained net the session's model (every tab then works on it)."""
        model = self.stepper.trained_model()
        # the caches hash models by this key: the weights and the architecture they fill
        digest = hashlib.sha256(self.stepper.weights().tobytes() + repr(self.stepper.layout()).encode())
        model.explorer_key = "trained:" + digest.hexdigest()
        name = self.state.add_model(self.model_name(), model, self.dataset)
        self._say(f"**{quoted(name)}** is now the session's model: the other tabs show it.", "success")
        return name

    def checkpoint_bytes(self) -> io.BytesIO:
        """The trained net as a checkpoint file that the upload accepts."""
        with tempfile.TemporaryDirectory() as tmp:
            path = zoo.save(self.stepper.trained_model(), Path(tmp) / "trained.pt",
                            input_shape=(self.stepper.data.num_features,),
                            class_names=self.stepper.data.class_names)
            return io.BytesIO(path.read_bytes())

    # -- drawing ----------------------------------------------------------------------------------
    def _say(self, text: str, kind: str = "warning") -> None:
        self._message.param.update(object=text, alert_type=kind, visible=bool(text))

    def _make_sources(self) -> None:
        self.loss_source = ColumnDataSource(dict(step=[], loss=[]))
        self.eval_source = ColumnDataSource(dict(step=[], train_loss=[], test_loss=[], accuracy=[]))
        self.region_source = ColumnDataSource(dict(step=[], regions=[]))
        self.patch_source = ColumnDataSource(dict(xs=[], ys=[], color=[]))
        self.boundary_source = ColumnDataSource(dict(xs=[], ys=[]))
        self.point_source = ColumnDataSource(dict(x=[], y=[], color=[]))
        self.gallery_source = ColumnDataSource(dict(x=[], y=[], text=[], color=[]))
        self.grid_source = ColumnDataSource(dict(image=[np.zeros((1, 1), dtype=np.uint32)]))

    def _draw(self, frame: Frame) -> None:
        steps = np.arange(frame.step - len(frame.batch_losses) + 1, frame.step + 1)
        if len(steps):
            self.loss_source.stream(dict(step=steps.tolist(), loss=frame.batch_losses.tolist()), rollover=20_000)
        self.eval_source.stream(dict(step=[frame.step], train_loss=[frame.train_loss],
                                     test_loss=[frame.test_loss], accuracy=[frame.test_accuracy]))
        if frame.grid is not None:
            g = frame.grid
            colors = np.array([int(c[1:], 16) for c in CLASS_COLORS], dtype=np.uint32)
            rgba = (colors[g.labels % len(CLASS_COLORS)] << 8 | 0x60).byteswap()  # RRGGBBAA -> bokeh's uint32
            self.grid_source.data = dict(image=[rgba.view(np.uint32)])
            self.patch_source.data = dict(xs=[], ys=[], color=[])
            self.boundary_source.data = dict(xs=[], ys=[])
        if frame.partition is not None:
            self.grid_source.data = dict(image=[np.zeros((1, 1), dtype=np.uint32)])
            part = frame.partition
            self.region_source.stream(dict(step=[frame.step], regions=[part.num_regions]))
            polys = part.polygons
            colors = [CLASS_COLORS[int(c) % len(CLASS_COLORS)] for c in part.predicted]
            self.patch_source.data = dict(xs=[p[:, 0] for p in polys], ys=[p[:, 1] for p in polys], color=colors)
            seg = part.boundary_segments
            self.boundary_source.data = dict(xs=[s[:, 0] for s in seg], ys=[s[:, 1] for s in seg])
        self.last_frame = frame
        self.with_param_step(frame.step)
        self._status.object = self._status_text(frame)
        self._draw_gallery(frame)
        if frame.confusion is not None and self._confusion is not None:
            self._confusion.object = self._confusion_frame(frame.confusion)

    def _status_text(self, f: Frame) -> str:
        fps = f"{len(self._frames) / sum(self._frames):.1f}" if self._frames else "–"
        regions_text = f" · **{f.partition.num_regions:,}** activation regions" if f.partition else ""
        if f.grid is not None:
            regions_text = (f" · more than {MAX_REGIONS:,} regions: too many to draw live, the decision map "
                            "is shown on a grid")
        return (f"Step **{f.step:,}** · train loss {f.train_loss:.4f} · test loss {f.test_loss:.4f} · "
                f"test accuracy **{100 * f.test_accuracy:.1f}%**{regions_text}  \n"
                f"{fps} frames/s · last frame: {1000 * f.step_seconds:.0f} ms training + "
                f"{1000 * f.region_seconds:.0f} ms {'regions' if f.partition else 'evaluation'} · "
                f"{self._skipped} frames skipped (a frame was still running)")

    def confusion_table(self):
        """The confusion matrix shown (of the latest frame), its row names in a "true" column."""
        return self._confusion_frame(self.last_frame.confusion).rename_axis("true").reset_index()

    def _confusion_frame(self, confusion):
        import pandas as pd

        names = self.stepper.data.class_names
        return pd.DataFrame(confusion, index=[f"true {n}" for n in names], columns=[f"pred {n}" for n in names])

    def _draw_points(self) -> None:
        if self.stepper is not None and self.is_2d:
            d = self.stepper.data
            self.point_source.data = dict(x=d.X_test[:, 0], y=d.X_test[:, 1],
                                          color=[CLASS_COLORS[int(c) % len(CLASS_COLORS)] for c in d.y_test])

    def _draw_gallery(self, frame: Frame) -> None:
        if frame.gallery is None or len(self.gallery_source.data["x"]) != len(frame.gallery):
            return
        names, truth = self.stepper.data.class_names, self.stepper.data.y_test[:GALLERY]
        self.gallery_source.data = dict(
            x=self.gallery_source.data["x"], y=self.gallery_source.data["y"],
            text=[str(names[int(p)]) for p in frame.gallery],
            color=["#2ca02c" if p == t else "#d62728" for p, t in zip(frame.gallery, truth)])

    def gallery_figure(self):
        """The first GALLERY test images in a strip, each with its live prediction (green: right)."""
        data = self.stepper.data
        h, w = data.image_shape
        cols = GALLERY // 2
        tile = np.zeros((2 * (h + 4), cols * w))
        for i in range(GALLERY):
            r, c = divmod(i, cols)
            tile[r * (h + 4) + 4:(r + 1) * (h + 4), c * w:(c + 1) * w] = data.X_test[i].reshape(h, w)[::-1]
        self.gallery_source.data = dict(x=[(i % cols) * w + w / 2 for i in range(GALLERY)],
                                        y=[(1 - i // cols) * (h + 4) + 0.5 for i in range(GALLERY)],
                                        text=[""] * GALLERY, color=["black"] * GALLERY)
        fig = figure(width=420, height=200, x_range=(0, cols * w), y_range=(0, 2 * (h + 4)),
                     title="Test images and the live prediction", toolbar_location=None)
        fig.image(image=[tile[::-1]], x=0, y=0, dw=cols * w, dh=2 * (h + 4), palette="Greys256")
        fig.axis.visible = False
        fig.text("x", "y", text="text", color="color", source=self.gallery_source, text_align="center",
                 text_baseline="bottom", text_font_size="12pt", text_font_style="bold")
        return fig

    def region_figure(self):
        x0, x1, y0, y1 = self.box
        fig = figure(width=440, height=440, x_range=(x0, x1), y_range=(y0, y1),
                     title="Exact linear regions (fill: predicted class), decision boundary",
                     tools="pan,wheel_zoom,reset", toolbar_location="below")
        fig.image_rgba(image="image", source=self.grid_source, x=x0, y=y0, dw=x1 - x0, dh=y1 - y0)
        fig.patches("xs", "ys", source=self.patch_source, fill_color="color", fill_alpha=0.35,
                    line_color="#555555", line_width=0.4)
        fig.multi_line("xs", "ys", source=self.boundary_source, line_color="black", line_width=2)
        fig.scatter("x", "y", source=self.point_source, color="color", size=4, line_color="white")
        return fig

    def curve_figures(self):
        """The live curves: small figures without tools (a hidden toolbar's tools would still be
        built and sent, some 8 bokeh models a figure)."""
        bare = dict(height=175, width=320, tools="", toolbar_location=None, x_axis_label="step")
        loss = figure(title="Loss", y_axis_type="log", **bare)
        loss.line("step", "loss", source=self.loss_source, color="#bbbbbb", legend_label="minibatch")
        loss.line("step", "train_loss", source=self.eval_source, color="#1f77b4", legend_label="train")
        loss.line("step", "test_loss", source=self.eval_source, color="#d62728", legend_label="test")
        acc = figure(title="Test accuracy", y_range=(0, 1.02), **bare)
        acc.line("step", "accuracy", source=self.eval_source, color="#2ca02c")
        figs = [loss, acc]
        if self.is_2d:
            count = figure(title="Number of activation regions", **bare)
            count.line("step", "regions", source=self.region_source, color="#9467bd")
            count.add_tools(HoverTool(tooltips=[("step", "@step"), ("regions", "@regions")]))
            figs.append(count)
        return figs

    def _make_controls(self):
        w = pn.widgets
        self._play = w.Button(label="▶ Play", color="success", width=66)
        self._pause = w.Button(label="Pause", color="warning", width=66, disabled=True)
        self._step_button = w.Button(label="Step", width=56)
        self._reset_button = w.Button(label="Reset", width=60)
        # served with --num-threads, plain callbacks run in a pool thread: the work that changes
        # bokeh models goes to the session's event loop (on_document); pause raises its flag at once
        self._play.on_click(lambda e: self.on_document(self.play))
        self._pause.on_click(self._on_pause)
        self._step_button.on_click(self.single_step)
        self._reset_button.on_click(lambda e: self.on_document(self.reset))
        self._use = w.Button(label="Use this net in every tab", color="primary")
        self._use.on_click(lambda e: self.on_document(self.use_model))
        download = w.FileDownload(callback=self.checkpoint_bytes, filename="trained.pt",
                                  label="Download checkpoint", color="light")
        p = self.param
        build = pn.Column(
            pn.pane.Markdown("**Network** (activation: ReLU, the one the exact analyses support)"),
            w.Select.from_param(p.dataset, name="Training data"), w.TextInput.from_param(p.hidden, name="Hidden widths"),
            w.FloatInput.from_param(p.init_scale, name="Init scale"), w.Select.from_param(p.optimiser),
            w.FloatInput.from_param(p.lr, name="Learning rate"), w.IntInput.from_param(p.batch_size),
            w.FloatInput.from_param(p.weight_decay), w.Select.from_param(p.method, name="Recipe"),
            w.Select.from_param(p.loss), w.IntInput.from_param(p.seed),
            w.IntInput.from_param(p.snapshot_every, name="Snapshot every (steps)"),
            w.IntSlider.from_param(p.steps_per_frame, name="Steps per frame"), width=240)
        buttons = pn.Row(self._play, self._pause, self._step_button, self._reset_button)
        return pn.Column(build, buttons, pn.Row(self._use, download))

    def __panel__(self):
        return self._layout
