"""The Training tab's view: the recipe's widgets from :class:`TrainingAnalysis`'s parameters, a
player (play / pause / step / reset), the live figures and the Koopman fit.

Play runs a few optimiser steps per frame in a worker thread (the event loop only draws), then
the frame's exact linear regions (2-D data) or confusion matrix (other data) are drawn. Pause
stops the steps at once (the stepper checks before every step). A link's step is replayed in
frames of :data:`REPLAY_CHUNK` steps. Every number is the analysis's; every picture is
:mod:`.figures`'.
"""

from __future__ import annotations

import asyncio
import io
import time

import panel as pn
import param

from ...safe_text import message, quoted
from ...serving import jobs
from ...state import AppState
from ...views.common import csv_download, error_alert
from . import figures
from . import view_playground as playground
from .analysis import BUILD, MAX_STEPS, NEEDS_PIECEWISE_LINEAR, TrainingAnalysis, dataset_names
from .analysis_koopman import STATIONARY_NOTE

REPLAY_CHUNK = 200  # steps per frame while a link's run is replayed
FRAME_MS = 100  # the player asks for a frame this often; a frame still running makes it skip one (counted)
CONTROLS_WIDTH = 300
NETWORK_SECONDS = 0.5  # while it plays, the network diagram's heatmaps are redrawn at most this often

# (setting, widget, label) of the recipe and of the Koopman fit, in the order shown
RECIPE = (("hidden", pn.widgets.TextInput, "Hidden widths"), ("activation", pn.widgets.Select, "Activation"),
          ("init_scale", pn.widgets.FloatInput, "Init scale"), ("optimiser", pn.widgets.Select, "Optimiser"),
          ("lr", pn.widgets.FloatInput, "Learning rate (changes as it plays)"),
          ("batch_size", pn.widgets.IntInput, "Batch size"), ("weight_decay", pn.widgets.FloatInput, "Weight decay"),
          ("regularization", pn.widgets.Select, "Regularization"),
          ("reg_rate", pn.widgets.FloatInput, "Regularization rate"), ("method", pn.widgets.Select, "Recipe"),
          ("loss", pn.widgets.Select, "Loss"), ("seed", pn.widgets.IntInput, "Seed"),
          ("snapshot_every", pn.widgets.IntInput, "Snapshot every (steps)"),
          ("steps_per_frame", pn.widgets.IntSlider, "Steps per frame"))
SHOW = (("discretize", pn.widgets.Checkbox, "Discretize output"),
        ("show_train", pn.widgets.Checkbox, "Show training data"), ("show_test", pn.widgets.Checkbox, "Show test data"))
KOOPMAN = (("kind", pn.widgets.Select, "Observables"), ("window", pn.widgets.IntInput, "Window (snapshots)"),
           ("ahead", pn.widgets.IntInput, "Jump ahead (snapshots)"),
           ("energy", pn.widgets.FloatInput, "Energy kept by the rank"),
           ("max_rank", pn.widgets.IntInput, "Rank at most"))


def _widgets(owner: param.Parameterized, table) -> list:
    return [kind.from_param(owner.param[name], name=label, sizing_mode="stretch_width") for name, kind, label in table]


class TrainingView(pn.viewable.Viewer):
    """The Training tab of one session: build, play / pause / step / reset, live curves and regions,
    the Koopman fit; the trained net handed to the other tabs or downloaded."""

    analysis_class = TrainingAnalysis
    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        self.analysis = TrainingAnalysis(resolve=state.dataset_by_name, **settings)
        self._offer_datasets()
        self._doc = pn.state.curdoc
        self._running, self._busy, self._callback, self._fitting = False, False, None, False
        self._target = None  # the step a link asks for, while the player replays to it
        self._stop_requested = True
        self._skipped, self._frames = 0, []
        self._network_at = 0.0  # when the network diagram was last drawn (perf_counter)
        self.src = figures.sources()
        self._message = pn.pane.Alert("", alert_type="warning", visible=False)
        self._status = pn.pane.Markdown("", css_classes=["training-status"])
        self._live = pn.Column(sizing_mode="stretch_width")
        self._koopman_result = pn.Column(pn.pane.Markdown("Train a while, then fit a window of snapshots."),
                                         min_width=360, max_width=640, sizing_mode="stretch_width")
        self._layout = pn.Column(
            pn.Row(self._make_controls(), pn.Column(self._message, self._status, self._live, min_width=360,
                                                    sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            self._koopman_section(), sizing_mode="stretch_width")
        self._redraw()
        self.analysis.param.watch(lambda e: self.on_document(self._redraw), list(BUILD))
        self.analysis.param.watch(lambda e: self.on_document(self._show_options), [name for name, *_ in SHOW])
        state.param.watch(lambda e: self._offer_datasets(), "dataset_name", what="objects")
        state.param.watch(lambda e: self._offer_datasets(), "dataset_name")
        if self.analysis.target:
            self._schedule_replay(self.analysis.target)

    def _offer_datasets(self) -> None:
        """The built-in datasets, the data folder's and this session's uploads that a net can learn."""
        self.analysis.param.dataset.objects = dataset_names(self.state._datasets)

    # -- play / pause / step ----------------------------------------------------------------------
    @property
    def _stop_now(self) -> bool:
        return self._stop_requested

    async def _tick(self) -> None:
        if self._stop_requested:  # paused: the callback stops on the document's next turn
            return
        if self._busy:
            self._skipped += 1
            return
        if self._target is None:
            await self.advance(self.analysis.steps_per_frame)
            return
        await self.advance(min(REPLAY_CHUNK, self._target - self.analysis.stepper.step_count))
        if self.analysis.stepper.step_count >= self._target:
            self._target = None
            self.pause()

    async def advance(self, n: int) -> None:
        """One frame: ``n`` steps in a worker thread, then draw."""
        stepper = self.analysis.stepper
        if stepper is None or self._busy:
            return
        self._busy, before = True, stepper.step_count
        start = time.perf_counter()
        try:
            frame = await asyncio.to_thread(self.analysis.train, n, lambda: self._stop_requested)
            if stepper is not self.analysis.stepper:
                return  # reset while the frame ran: it belongs to the old network
            if stepper.step_count == before:
                return  # paused before its first step: nothing new to draw (redraws queued behind Pause delayed it)
            self._frames = (self._frames + [time.perf_counter() - start])[-20:]
            self.on_document(lambda: self._show(frame, stepper))
            if frame.diverged:
                self._say("The loss stopped being finite: training diverged. Lower the learning rate and reset.")
                self.pause()
        except Exception as exc:  # shown to the user, the server keeps going
            self.pause()
            self._say(message(exc if isinstance(exc, (ValueError, RuntimeError)) else f"{type(exc).__name__}: {exc}"))
        finally:
            self._busy = False

    def _show(self, frame, stepper) -> None:
        if stepper is self.analysis.stepper:  # not reset since the frame was trained
            self._draw(self.analysis.record(frame))

    def play(self, event=None) -> None:
        if self.analysis.stepper is None or self._running or self._fitting:
            return
        self._running, self._stop_requested = True, False
        self._callback = pn.state.add_periodic_callback(self._tick, period=FRAME_MS)
        self._play.disabled, self._pause.disabled = True, False

    def _on_pause(self, event) -> None:
        self._stop_requested = True  # the stepper stops before its next step
        self._target = None
        self.on_document(self.pause)

    def pause(self) -> None:
        self._stop_requested, self._running = True, False
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        self._play.disabled, self._pause.disabled = False, True
        self.on_document(self._draw_network)  # the diagram of the last frame (pause runs unlocked from _on_fit)

    def _draw_network(self) -> None:
        if self.analysis.is_2d and self.analysis.last_frame is not None:
            playground.draw_network(self.src, self.analysis, self.analysis.last_frame)

    async def single_step(self, event=None) -> None:
        if self._fitting:
            return
        self.pause()
        self._stop_requested = False
        await self.advance(1)
        self._stop_requested = True

    def replay_to(self, target: int) -> None:
        """Train to ``target`` steps (a link's step) and draw: synchronous, for tests and notebooks."""
        self._stop_requested = False
        self._draw(self.analysis.run_to(target, lambda: self._stop_requested))
        self._stop_requested = True

    def _schedule_replay(self, target: int) -> None:
        """Served: the player trains to ``target`` in frames of up to REPLAY_CHUNK steps, then pauses."""
        if self._doc is not None and self._doc.session_context is not None:
            self._target = min(int(target), MAX_STEPS)
            self.play()
        else:
            self.replay_to(target)

    def on_document(self, fn) -> None:
        """Run ``fn`` (which changes bokeh models) holding the session's document lock: at the next
        tick when served (a button's async callback runs without it), at once otherwise."""
        if self._doc is not None and self._doc.session_context is not None:
            self._doc.add_next_tick_callback(fn)
        else:
            fn()

    # -- the trained net elsewhere ----------------------------------------------------------------
    def use_model(self, event=None) -> str:
        """Make the trained net the session's model (every tab then works on it)."""
        a = self.analysis
        if a.is_regression:  # the other tabs read a classifier's classes
            self._say("A regression net is shown in this tab only: the other tabs explain classifiers.")
            return ""
        name = self.state.add_model(a.model_name(), a.trained_model(), a.dataset)
        self._say(f"**{quoted(name)}** is now the session's model: the other tabs show it.", "success")
        return name

    def checkpoint_bytes(self) -> io.BytesIO:
        return io.BytesIO(self.analysis.checkpoint_bytes())

    # -- the Koopman fit ----------------------------------------------------------------------------
    async def _on_fit(self, event=None) -> None:
        if self._fitting:
            return
        self.pause()  # the fit reads the snapshots: training waits until it is done
        self._fitting = True
        while self._busy:
            await asyncio.sleep(0.01)
        self._koopman_result.objects = [pn.indicators.LoadingSpinner(value=True, size=30)]
        owner = jobs.OWNER.set(self.state)  # a background job of this session (a worker process, served)
        try:
            result = await asyncio.to_thread(self.analysis.koopman_fit)
            self.on_document(lambda: self._draw_fit(result))
        except Exception as exc:  # shown to the user, the server keeps going
            alert = error_alert(exc, "The Koopman fit")
            self.on_document(lambda: setattr(self._koopman_result, "objects", [alert]))
        finally:
            jobs.OWNER.reset(owner)
            self._fitting = False

    def _draw_fit(self, result) -> None:
        k = self.analysis.koopman
        kept, spurious = figures.eigenvalue_data(k.eigenvalues(result))
        self.src["eigenvalues"].data, self.src["spurious"].data = kept, spurious
        table = k.table(result)
        self._koopman_result.objects = [
            pn.pane.Markdown(k.summary(result), css_classes=["koopman-summary"]),
            pn.pane.DataFrame(table, index=False, float_format="{:.6g}".format, na_rep="not reached"),
            csv_download(table, "koopman-fit.csv"),
            csv_download(k.eigenvalues(result), "koopman-eigenvalues.csv")]

    # -- drawing ------------------------------------------------------------------------------------
    def _say(self, text: str, kind: str = "warning") -> None:
        self._message.param.update(object=text, alert_type=kind, visible=bool(text))

    def _redraw(self) -> None:
        """Everything of a fresh run (after a reset or a new recipe): training stops."""
        self.pause()
        a = self.analysis
        for name in ("loss", "eval", "regions", "patches", "boundary", "eigenvalues", "spurious", "units", "edges",
                     "unit_names", "points", "train_points"):
            self.src[name].data = {k: [] for k in self.src[name].data}
        self._koopman_result.objects = [pn.pane.Markdown("Train a while, then fit a window of snapshots.")]
        if a.stepper is None:
            self._live.objects = []
            self._say(message(a.problem))
            return
        self._say("")
        self._skipped, self._frames = 0, []
        self._confusion = None
        data = a.data
        if a.is_2d:
            playground.draw_points(self.src, a)
        elif data.image_shape:
            self.src["gallery"].data = figures.gallery_data(data.image_shape, None, None, a.class_names())
        self._draw(a.advance(0))
        history = csv_download(a.history, "training-history.csv")
        curves = pn.Column(*figures.curve_figures(self.src, a.is_2d), history)
        if a.is_2d:
            regions_plot = pn.pane.Bokeh(figures.region_figure(self.src, a.box, a.class_names()))
            self._live.objects = [pn.FlexBox(regions_plot, playground.network_section(self.src, a), curves)]
            return
        gallery = ([pn.pane.Bokeh(figures.gallery_figure(self.src, data.X_test, data.image_shape))]
                   if data.image_shape else [])
        self._confusion = pn.pane.DataFrame(a.confusion_table(), index=False, styles={"overflow-x": "auto"},
                                            max_width=640, sizing_mode="stretch_width")
        self._live.objects = [pn.FlexBox(curves, pn.Column(
            *gallery, "**Confusion matrix (test set)**", self._confusion,
            csv_download(a.confusion_table, "training-confusion.csv"), min_width=360, sizing_mode="stretch_width"))]

    def _draw(self, frame) -> None:
        src = self.src
        steps = list(range(frame.step - len(frame.batch_losses) + 1, frame.step + 1))
        if steps:
            src["loss"].stream(dict(step=steps, loss=frame.batch_losses.tolist()), rollover=MAX_STEPS)
        src["eval"].stream(dict(step=[frame.step], train_loss=[frame.train_loss], test_loss=[frame.test_loss],
                                accuracy=[frame.test_accuracy]))
        if frame.partition is not None:
            src["regions"].stream(dict(step=[frame.step], regions=[frame.partition.num_regions]))
        if self.analysis.is_2d:
            playground.draw_output(src, self.analysis, frame)
            if not self._running or time.perf_counter() - self._network_at >= NETWORK_SECONDS:
                playground.draw_network(src, self.analysis, frame)  # each frame's would be ~50 kB more to send
                self._network_at = time.perf_counter()
        fps = len(self._frames) / sum(self._frames) if self._frames else None
        note = NEEDS_PIECEWISE_LINEAR if self.analysis.is_2d and not self.analysis.piecewise_linear else ""
        self._status.object = figures.status_text(frame, fps, self._skipped, note)
        data = self.analysis.data
        if frame.gallery is not None and data.image_shape:
            src["gallery"].data = figures.gallery_data(
                data.image_shape, frame.gallery, data.y_test[:len(frame.gallery)], self.analysis.class_names())
        if frame.confusion is not None and self._confusion is not None:
            self._confusion.object = self.analysis.confusion_table(frame)

    def _make_controls(self) -> pn.Column:
        w = pn.widgets
        self._play = w.Button(label="▶ Play", color="success", width=70)
        self._pause = w.Button(label="Pause", color="warning", width=70, disabled=True)
        step = w.Button(label="Step", width=60)
        reset = w.Button(label="Reset", width=62)
        # served with --num-threads, plain callbacks run in a pool thread: the work that changes
        # bokeh models goes to the session's event loop (on_document); pause raises its flag at once
        self._play.on_click(lambda e: self.on_document(self.play))
        self._pause.on_click(self._on_pause)
        step.on_click(self.single_step)
        reset.on_click(lambda e: self.on_document(self._reset))
        use = w.Button(label="Use this net in every tab", color="primary", sizing_mode="stretch_width")
        use.on_click(lambda e: self.on_document(self.use_model))
        download = w.FileDownload(callback=self.checkpoint_bytes, filename="trained.pt", label="Download checkpoint",
                                  color="light", sizing_mode="stretch_width")
        a = self.analysis
        data = pn.widgets.Select.from_param(a.param.dataset, name="Training data", sizing_mode="stretch_width")
        return pn.Column(
            "**Data**", data, *playground.data_controls(a), *_widgets(a, SHOW), "**Network**", *_widgets(a, RECIPE),
            pn.FlexBox(self._play, self._pause, step, reset), use, download, width=CONTROLS_WIDTH)

    def _show_options(self) -> None:
        """Discretize output, show training / test data: the last frame drawn again."""
        a = self.analysis
        if a.is_2d and a.last_frame is not None:
            if a.last_frame.output is None and a.last_frame.step == a.stepper.step_count:
                a.last_frame.output = a.output_map()  # the frame filled its regions by class: none was made
            playground.draw_points(self.src, a)
            playground.draw_output(self.src, a, a.last_frame)

    def _reset(self) -> None:
        self.analysis.reset()
        self._redraw()

    def _koopman_section(self) -> pn.Column:
        fit = pn.widgets.Button(label="Fit the window and jump ahead", color="primary",
                                sizing_mode="stretch_width")
        fit.on_click(self._on_fit)
        controls = pn.Column(*_widgets(self.analysis.koopman, KOOPMAN), fit, width=CONTROLS_WIDTH)
        return pn.Column(
            "### The Koopman view of training",
            pn.pane.Markdown(STATIONARY_NOTE, sizing_mode="stretch_width", max_width=900),
            pn.FlexBox(controls, pn.pane.Bokeh(figures.eigenvalue_figure(self.src)), self._koopman_result),
            sizing_mode="stretch_width")

    def __panel__(self):
        return self._layout
