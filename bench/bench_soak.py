"""Soak: students arrive and leave while hostile uploads are mixed in (issue 31).

One served app (`bash run.sh serve`'s flags, on a free loopback port; or ``--url`` of one
already running). After two warm-up sessions:

- ``--lanes`` honest clients (one process each) open sessions one after another. Each
  session arrives on ``/app`` or ``/app?model=digits-mlp``, changes a setting of the
  Overview ("Map resolution" or "Test sample #"), changes the model, opens another tab, and
  leaves. A control's latency is the time from the change, sent as a PATCH-DOC, until the
  server's first patch after it arrives (a patch hook, as in bench_classroom); before each
  change the session waits until the server has been quiet for 0.5 s, so that a late patch
  of the previous change is not taken for the reply.
- one hostile client uploads each file of ``HOSTILE`` once, every file from a fresh session
  that leaves afterwards, through the upload boxes' own chunked events (what FilePond sends:
  ``upload_event`` with ``name``, ``chunk``, ``total_chunks``, ``data``, ``type``). Its answer
  time runs from the first chunk sent until the patch arrives that makes the box's status
  alert (``upload-status`` for the model box, ``data-status`` for the data box) show a new
  text that is not a progress notice; the message's length is that of the text the page
  shows (tags stripped). The client takes messages of any size, as a browser does.
- every 0.2 s, the resident memory of the server's process tree (``--num-procs`` workers
  and job processes included; pages shared between forks counted in each) is summed.

The soak lasts ``--duration`` seconds, and at least until every hostile file had its
answer (or ``--upload-timeout`` passed); honest sessions stop at ``--sessions``; at
``--max-seconds`` everything left is stopped (what it was doing counts as failed). Errors:
the server's logged errors (and its death), hostile uploads not answered within 5 s (the
issue's target) or at all, and sessions that failed (a failed pull, a change left unanswered
for ``--control-timeout`` s, a dropped connection, a client still busy at the hard stop).

Run: ``python -m bench soak`` (knobs from the environment: ``SOAK_DURATION=45``,
``SOAK_LANES=2``, ``SOAK_SESSIONS=200``, ``SOAK_MAX_SECONDS=420``, ``SOAK_UPLOAD_TIMEOUT=30``,
``SOAK_CONTROL_TIMEOUT=30``, ``SOAK_GAP=1``, ``SOAK_HOSTILE=all`` (comma-separated keys of ``HOSTILE``, or ``none``),
``SOAK_URL`` and ``SOAK_SERVER_LOG``), or ``python -m bench.bench_soak --duration 30 --hostile wide-csv,opcodes``
with the same knobs as flags. The last line printed is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import io
import math
import multiprocessing as mp
import os
import queue
import random
import re
import struct
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import psutil

from tests.served import ROOT, app_tabs, browser_ready

XSS = "<img src=x onerror=alert(1)>"
ANSWER_TARGET = 5.0  # seconds: the "every upload answered within 5 s"
QUIET = 0.5  # seconds without a patch before a control is changed
SETTLE_MAX = 15.0  # the most seconds spent waiting for quiet
LIGHT_MODELS = ("moons-mlp", "spirals-mlp", "digits-mlp", "moons-leaky", "digits-mlp-l1")
CLIENT_MAX_MESSAGE = 1 << 30  # a browser takes any message size: so does the client, to measure it


# -- the hostile files (pure functions of their sizes; tests/test_bench_soak.py checks them) ---------

def checkpoint_payload(**changes) -> dict:
    """A valid Network Explorer checkpoint's dictionary (a 2 -> 2 linear layer), with ``changes``."""
    import torch

    from explorer import zoo

    payload = {"format": zoo.FORMAT, "version": 1, "layers": [{"type": "linear", "in": 2, "out": 2}],
               "input_shape": [2], "class_names": [],
               "state_dict": {"0.weight": torch.zeros(2, 2), "0.bias": torch.zeros(2)}}
    payload.update(changes)
    return payload


def torch_file(payload: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def garbage_checkpoint(size: int = 4096) -> bytes:
    """Seeded random bytes: neither a zip nor a pickle."""
    return np.random.default_rng(31).bytes(size)


def with_long_list(archive: bytes, key: str, item: bytes, count: int) -> bytes:
    """The torch checkpoint ``archive`` with ``payload[key]`` set to a list of ``count`` copies of the
    pickled ``item`` (one opcode each, appended 1000 at a time), spliced in before the pickle's STOP
    (``torch.save`` of such a list would take seconds); every entry deflated (torch reads them), so a
    pickle of repetitions packs to a few kB."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    entries = {info.filename: source.read(info.filename) for info in source.infolist()}
    name = next(n for n in entries if n.endswith("/data.pkl"))
    pickle_bytes = entries[name]
    if not pickle_bytes.endswith(b"."):
        raise ValueError("the pickle does not end in STOP")
    batches, rest = divmod(count, 1000)
    encoded = key.encode()
    value = (b"]" + (b"(" + item * 1000 + b"e") * batches  # EMPTY_LIST, (MARK, items, APPENDS) ...
             + (b"(" + item * rest + b"e" if rest else b""))
    # the payload dict is on the stack before STOP: key (BINUNICODE), value, SETITEM
    entries[name] = pickle_bytes[:-1] + b"X" + struct.pack("<I", len(encoded)) + encoded + value + b"s."
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as target:
        for filename, data in entries.items():
            target.writestr(filename, data)
    return out.getvalue()


def huge_input_shape_checkpoint(repr_chars: int = 15_000_000) -> bytes:
    """A checkpoint whose ``input_shape`` is ``[1, 1, ...]``, a repr of ``repr_chars`` characters; deflated."""
    return with_long_list(torch_file(checkpoint_payload()), "input_shape", b"K\x01", repr_chars // 3)


def opcode_heavy_checkpoint(opcodes: int = 10_000_000) -> bytes:
    """A valid checkpoint whose pickle also holds ``padding``: a list of ``opcodes`` Nones; deflated."""
    return with_long_list(torch_file(checkpoint_payload()), "padding", b"N", opcodes)


def stride0_checkpoint(hidden: int = 8000, inputs: int = 4096) -> bytes:
    """Linear(inputs, hidden), ReLU, Linear(hidden, 2): ``hidden * inputs`` weights (33 M by default)
    declared by tensors whose storage holds one number each (stride 0)."""
    import torch

    def spread(*shape):
        return torch.zeros(1).as_strided(shape, (0,) * len(shape))

    layers = [{"type": "linear", "in": inputs, "out": hidden}, {"type": "relu"},
              {"type": "linear", "in": hidden, "out": 2}]
    state = {"0.weight": spread(hidden, inputs), "0.bias": spread(hidden),
             "2.weight": spread(2, hidden), "2.bias": spread(2)}
    return torch_file(checkpoint_payload(layers=layers, input_shape=[inputs], state_dict=state))


def wide_csv(columns: int = 12_000_000, lines: int = 2) -> bytes:
    """``lines`` lines of ``columns`` zeros (no header): 2 x 12 M cells, 48 MB by default."""
    return (b"0," * (columns - 1) + b"0\n") * lines


def repeated_header_csv(columns: int = 100_000, rows: int = 2, name: bytes = b"a") -> bytes:
    """A header of ``columns`` columns all named ``name``, then ``rows`` lines of zeros."""
    return b",".join([name] * columns) + b"\n" + (b"0," * (columns - 1) + b"0\n") * rows


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def huge_class_names_npz(names: int = 1_400_000) -> bytes:
    """Ten 2-D samples and ``names`` distinct class names (``c0``, ``c1``, ...; 8 characters each in
    the array): 45 MB by default."""
    return _npz(X=np.zeros((10, 2)), y=np.zeros(10, dtype=np.int64),
                class_names=np.char.add("c", np.arange(names).astype("U7")).astype("U8"))


def huge_image_shape_npz(entries: int = 20_000_000) -> bytes:
    """Ten 4-value samples and an ``image_shape`` of ``entries`` ones (compressed: a few hundred kB)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=np.zeros((10, 4)), y=np.zeros(10, dtype=np.int64),
                        image_shape=np.ones(entries, dtype=np.int64))
    return buffer.getvalue()


def hostile_column_csv(rows: int = 40) -> bytes:
    """A valid two-class CSV whose first column is named ``<img src=x onerror=alert(1)>``."""
    rng = np.random.default_rng(0)
    lines = [f"{XSS},v,label"] + [f"{a:.3f},{b:.3f},{'cat' if k % 2 else 'dog'}"
                                  for k, (a, b) in enumerate(rng.normal(size=(rows, 2)))]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Hostile:
    key: str
    box: str  # "model" (the checkpoint box) or "data" (the dataset box)
    filename: str
    make: object  # () -> bytes
    mime: str = "application/octet-stream"


HOSTILE = [
    Hostile("xss-name", "model", f"{XSS}.pt", garbage_checkpoint),
    Hostile("input-shape", "model", "input-shape-15MB.pt", huge_input_shape_checkpoint),
    Hostile("wide-csv", "data", "wide-2x12M.csv", wide_csv, "text/csv"),
    Hostile("dup-header", "data", "header-100k-same-name.csv", repeated_header_csv, "text/csv"),
    Hostile("class-names", "data", "class-names-1.4M.npz", huge_class_names_npz),
    Hostile("image-shape", "data", "image-shape-20M.npz", huge_image_shape_npz),
    Hostile("opcodes", "model", "pickle-10M-opcodes.pt", opcode_heavy_checkpoint),
    Hostile("stride0", "model", "stride0-33M-weights.pt", stride0_checkpoint),
    Hostile("xss-column", "data", "xss-column.csv", hostile_column_csv, "text/csv"),
]


# -- what a page shows --------------------------------------------------------------------------

def shown_text(markup: str) -> str:
    """The text a browser shows for a Panel HTML model's ``text`` (escaped HTML): tags stripped,
    entities read."""
    return html.unescape(re.sub(r"<[^>]*>", "", html.unescape(markup or ""))).strip()


PROGRESS = re.compile(r"\b(reading|checking|loading|uploading|receiving|working|waiting)\b", re.I)


def is_progress(text: str) -> bool:
    """A notice that work goes on ("Reading wide.csv…"), not the answer."""
    return bool(PROGRESS.search(text[:300])) and text.rstrip().endswith(("…", "..."))


# -- a bokeh.client session ------------------------------------------------------------------------

def _pull(url: str, arguments: dict | None = None):
    from bokeh.client import pull_session

    return pull_session(url=url, arguments=arguments or {}, max_message_size=CLIENT_MAX_MESSAGE)


def wait_for(session, condition, timeout: float) -> bool:
    """Run the client's IOLoop (it runs only while we wait) until ``condition()`` holds or ``timeout``
    seconds pass; whether it holds. Unlike tests.served.run_until, a wait that times out leaves the
    client's one reader waiting on the socket and the next wait reuses it: a second reader would
    take fragments of the server's messages out of order."""
    if condition():
        return True
    connection = session._connection
    loop = connection._loop
    timer = loop.call_later(timeout, loop.stop)
    connection._until_predicate = condition
    if not getattr(connection, "_soak_reading", False):
        loop.add_callback(connection._next)
    loop.start()
    loop.remove_timeout(timer)
    # the reader stops itself (and clears the predicate) once the condition holds; else it still waits
    connection._soak_reading = connection._until_predicate is not None
    return bool(condition())


def _with_class(doc, css: str) -> list:
    return [m for m in doc.models if css in (getattr(m, "css_classes", None) or [])]


def _press(session, button) -> None:
    from bokeh.document.events import MessageSentEvent
    from bokeh.events import ButtonClick

    doc = session.document
    doc.callbacks.trigger_on_change(MessageSentEvent(doc, "bokeh_event", ButtonClick(button)))


def send_upload(session, dropper, filename: str, data: bytes, mime: str) -> int:
    """Send ``data`` to the FileDropper model ``dropper`` as FilePond does (one ``upload_event`` per
    chunk of the model's ``chunk_size``); the number of chunks. They go out when the client's loop runs."""
    from bokeh.document.events import MessageSentEvent
    from panel.models.file_dropper import UploadEvent

    doc = session.document
    size = dropper.chunk_size
    total = math.ceil((len(data) + 1) / size)  # as Panel's file_dropper.ts counts ("+1 is for empty files")
    for number in range(1, total + 1):
        event = UploadEvent(dropper, data={"name": filename, "chunk": number, "total_chunks": total,
                                           "data": data[(number - 1) * size:number * size], "type": mime})
        # Panel's Python class leaves `data` out of what it serialises (only browsers send it)
        event.event_values = lambda event=event: {"model": event.model, "data": event.data}
        doc.callbacks.trigger_on_change(MessageSentEvent(doc, "bokeh_event", event))
    return total


class PatchClock:
    """Arrival times of the server's PATCH-DOC messages to one session."""

    def __init__(self, session):
        self.times: list[float] = []
        handle = session._handle_patch

        def timed(message):
            self.times.append(time.monotonic())
            handle(message)

        session._handle_patch = timed

    def first_after(self, t: float) -> float | None:
        return next((s for s in self.times if s > t), None)

    def settle(self, session, quiet: float = QUIET, most: float = SETTLE_MAX) -> None:
        """Run the client's loop until no patch has come for ``quiet`` s (at most ``most`` s)."""
        start = time.monotonic()
        while time.monotonic() - start < most and session.connected:
            mark = time.monotonic()
            if not wait_for(session, lambda: bool(self.times) and self.times[-1] > mark or not session.connected,
                            quiet):
                return


def _values(options) -> list[str]:
    return [o[0] if isinstance(o, (list, tuple)) else o for o in options or []]


def honest_session(url: str, rng: random.Random, control_timeout: float) -> dict:
    """Arrive, change a setting, the model and the tab, leave; each control's latency (None: unanswered)."""
    from bokeh.models import Select

    result = {"pull": None, "controls": [], "error": None}
    arguments = rng.choice([{}, {"model": "digits-mlp"}])
    session = None
    try:
        t0 = time.monotonic()
        session = _pull(url, arguments)
        result["pull"] = time.monotonic() - t0
        clock = PatchClock(session)
        browser_ready(session)
        doc = session.document

        def change(kind: str, apply) -> None:
            time.sleep(rng.uniform(0.1, 0.4))  # the student reads, then clicks
            clock.settle(session)
            sent = time.monotonic()
            apply()
            wait_for(session, lambda: clock.first_after(sent) is not None or not session.connected, control_timeout)
            answer = clock.first_after(sent)
            result["controls"].append((kind, None if answer is None else answer - sent))
            if answer is None:
                raise TimeoutError(f"{kind}: no reply within {control_timeout:.0f} s"
                                   + ("" if session.connected else " (disconnected)"))

        setting = next((m for m in doc.models if getattr(m, "title", None) in ("Map resolution", "Test sample #")),
                       None)
        if setting is not None:
            if setting.title == "Map resolution":
                new = rng.choice([v for v in range(40, 201, 20) if v != setting.value])
            else:
                new = rng.choice([v for v in range(0, 40) if v != setting.value])
            change("setting", lambda: setattr(setting, "value", new))
        select = next((m for m in doc.models if isinstance(m, Select) and m.title == "Model"), None)
        if select is not None:
            choices = [v for v in _values(select.options) if v in LIGHT_MODELS and v != select.value]
            if choices:
                model = rng.choice(choices)
                change("model", lambda: setattr(select, "value", model))
        tabs = app_tabs(doc)
        if tabs is not None and len(tabs.tabs) > 1:
            index = rng.choice([i for i in range(len(tabs.tabs)) if i != tabs.active])
            change("tab", lambda: setattr(tabs, "active", index))
        clock.settle(session, most=5.0)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass
    return result


def hostile_upload(url: str, item: Hostile, data: bytes, timeout: float) -> dict:
    """A fresh session uploads ``data`` to ``item.box``; when its status alert answered, and with what."""
    result = {"key": item.key, "bytes": len(data), "seconds": None, "sent": None, "first_change": None, "chars": None,
              "alert": "", "excerpt": "", "error": None}
    session = None
    try:
        session = _pull(url)
        clock = PatchClock(session)
        browser_ready(session)
        doc = session.document
        if item.box == "data":
            opener = _with_class(doc, "data-upload-open")
            if opener and not _with_class(doc, "data-upload"):
                _press(session, opener[0])  # "Upload your own data…": the box is built when asked for
                wait_for(session, lambda: bool(_with_class(doc, "data-upload")) or not session.connected, 30)
        box_class, status_class = ("model-upload", "upload-status") if item.box == "model" \
            else ("data-upload", "data-status")
        droppers = _with_class(doc, box_class)
        if not droppers or not _with_class(doc, status_class):
            raise LookupError(f"no .{box_class} upload box or .{status_class} alert in the page")

        def snapshot():
            return [(m.id, m.text, m.visible, tuple(m.css_classes)) for m in _with_class(doc, status_class)]

        before = snapshot()
        marks = {}

        def answered() -> bool:
            """A status alert shows a new text, and it is not a progress notice (Panel may send the
            alert's visibility, its class and its text in separate patches)."""
            if not session.connected:
                return True
            now = snapshot()
            if now == before:
                return False
            arrived = clock.times[-1] if clock.times else time.monotonic()  # the patch that brought it
            marks.setdefault("change", arrived)
            old = {key: text for key, text, _, _ in before}
            texts = [shown_text(text) for key, text, visible, _ in now if visible and text != old.get(key)]
            if any(texts) and not any(is_progress(t) for t in texts):
                marks["answer"] = arrived
                return True
            return False

        connection = session._connection
        send = connection.send_message

        async def timed_send(message):  # the last chunk handed to the socket: the upload is sent
            await send(message)
            marks["sent"] = time.monotonic()

        connection.send_message = timed_send
        start = time.monotonic()
        send_upload(session, droppers[0], item.filename, data, item.mime)
        wait_for(session, answered, timeout)
        if "change" in marks:
            result["first_change"] = marks["change"] - start
        if "sent" in marks:
            result["sent"] = marks["sent"] - start
        if not session.connected:
            raise ConnectionError("the connection dropped before the answer")
        if "answer" in marks:
            result["seconds"] = marks["answer"] - start
            shown = [(shown_text(text), css) for _, text, visible, css in snapshot() if visible]
            text, css = max(shown, key=lambda s: len(s[0]))
            result["chars"] = len(text)
            result["alert"] = next((c.removeprefix("alert-") for c in css if c.startswith("alert-")), "")
            result["excerpt"] = text[:90]
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass
    return result


# -- the lanes (one process each) -------------------------------------------------------------------

def _honest_lane(url, seed, stop, left, control_timeout, results):
    asyncio.set_event_loop(asyncio.new_event_loop())
    rng = random.Random(seed)
    while not stop.is_set():
        with left.get_lock():
            if left.value <= 0:
                break
            left.value -= 1
        results.put(("honest", honest_session(url, rng, control_timeout)))


def _hostile_lane(url, items, files, gap, abort, upload_timeout, results):
    asyncio.set_event_loop(asyncio.new_event_loop())
    for item in items:
        time.sleep(gap)
        if abort.is_set():
            break
        results.put(("hostile_start", item.key))
        results.put(("hostile", hostile_upload(url, item, files[item.key], upload_timeout)))


def _warm(url, results):
    asyncio.set_event_loop(asyncio.new_event_loop())
    results.put(("warm", honest_session(url, random.Random(0), 60.0)))


# -- the server's memory ------------------------------------------------------------------------------

class Tree:
    """The server's processes: ``root`` and its descendants, or (``--url``) every process whose
    command line names its port, and theirs."""

    def __init__(self, root: psutil.Process | None = None, port: int | None = None):
        self.root, self.port = root, port

    def processes(self) -> list:
        roots = [self.root] if self.root is not None else [
            p for p in psutil.process_iter(["cmdline"]) if str(self.port) in (p.info["cmdline"] or [])]
        seen = {}
        for root in roots:
            try:
                for proc in [root, *root.children(recursive=True)]:
                    seen[proc.pid] = proc
            except psutil.Error:
                pass
        return list(seen.values())

    def rss_gb(self) -> float:
        total = 0
        for proc in self.processes():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**30


class Sampler(threading.Thread):
    def __init__(self, tree: Tree, every: float = 0.2):
        super().__init__(daemon=True)
        self.tree, self.every, self.samples = tree, every, []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            self.samples.append(self.tree.rss_gb())
            self.halt.wait(self.every)


RECORD = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d")  # a log record's first line starts with its date
DISCONNECTS = ("WebSocketClosedError", "StreamClosedError")  # the server wrote to a client that had left


def server_errors(log_text: str) -> list[str]:
    """The server's logged errors, one line each: an ERROR / CRITICAL record or a traceback, joined
    to the exception that ends it (a traceback right after a log record about an error or
    exception, or chained to the one before, is part of that error; Panel's second report of a
    failed callback is left out)."""
    found: list[list] = []  # [record or None, exception or None]
    in_traceback = chained = False
    previous = ""
    for line in log_text.splitlines():
        if line.startswith("Traceback (most recent call last)"):
            if not (chained and found) and not (found and found[-1][0] == previous[:150]):
                about = RECORD.match(previous) and re.search(r"error|exception|critical|fail", previous, re.I)
                found.append([previous[:150] if about else None, None])
            in_traceback, chained = True, False
        elif line.startswith(("During handling of the above exception", "The above exception was the direct")):
            chained = True
        elif in_traceback and line and not line[0].isspace():
            in_traceback = False  # the exception's own line
            found[-1][1] = line[:150]
        elif not in_traceback and RECORD.match(line) and re.search(r"\b(ERROR|CRITICAL)\b", line):
            found.append([line[:150], None])
        if line.strip():
            previous = line
    kept = []
    for record, exception in found:  # Panel logs a failed callback twice: its record, then its future's
        if kept and record and record.split(" ", 2)[-1].startswith("exception calling callback") \
                and exception == kept[-1][1]:
            continue
        kept.append((record, exception))
    return [" | ".join(part for part in entry if part) for entry in kept]


# -- the run ------------------------------------------------------------------------------------------

def q(values, p) -> float:
    return float(np.percentile(values, p)) if len(values) else float("nan")


def options(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench.bench_soak", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=float(env("SOAK_DURATION", "45")),
                        help="seconds of honest sessions (at least until the hostile files are answered)")
    parser.add_argument("--lanes", type=int, default=int(env("SOAK_LANES", "2")), help="honest clients at once")
    parser.add_argument("--sessions", type=int, default=int(env("SOAK_SESSIONS", "200")),
                        help="the most honest sessions in all")
    parser.add_argument("--max-seconds", type=float, default=float(env("SOAK_MAX_SECONDS", "420")),
                        help="hard stop of the soak (after the server is up)")
    parser.add_argument("--upload-timeout", type=float, default=float(env("SOAK_UPLOAD_TIMEOUT", "30")),
                        help="seconds a hostile upload's answer is waited for")
    parser.add_argument("--control-timeout", type=float, default=float(env("SOAK_CONTROL_TIMEOUT", "30")),
                        help="seconds an honest change's reply is waited for")
    parser.add_argument("--gap", type=float, default=float(env("SOAK_GAP", "1")),
                        help="seconds between hostile sessions")
    parser.add_argument("--hostile", default=env("SOAK_HOSTILE", "all"),
                        help="comma-separated keys of the hostile files (" + ",".join(h.key for h in HOSTILE)
                             + "), 'all' or 'none'")
    parser.add_argument("--url", default=env("SOAK_URL", ""), help="soak a server already running at this URL")
    parser.add_argument("--server-log", default=env("SOAK_SERVER_LOG", ""),
                        help="with --url: the server's log file, to count its errors (what it gains meanwhile)")
    args = parser.parse_args(argv or [])
    keys = [h.key for h in HOSTILE]
    wanted = keys if args.hostile == "all" else [] if args.hostile == "none" else \
        [k.strip() for k in args.hostile.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in keys]
    if unknown:
        parser.error(f"unknown hostile files {unknown}; known: {keys}")
    args.items = [h for h in HOSTILE if h.key in wanted]
    return args


def main(argv: list[str] | None = None) -> None:
    import bokeh.client  # noqa: F401
    import panel.models  # noqa: F401  (the clients read Panel's own models: import them before forking)
    import panel.models.file_dropper  # noqa: F401

    args = options(argv)
    server = None
    if not args.url:
        from bench.bench_classroom import Server

        server = Server(ROOT / "app.py", ROOT)  # starts now; the files are built meanwhile
    print(f"soak: {args.lanes} honest clients for >= {args.duration:.0f} s (at most {args.sessions} sessions), "
          f"{len(args.items)} hostile uploads {args.gap:.0f} s apart, each waited for {args.upload_timeout:.0f} s; "
          f"hard stop {args.max_seconds:.0f} s; {psutil.cpu_count()} cores", flush=True)
    t = time.monotonic()
    files = {item.key: item.make() for item in args.items}
    print(f"  hostile files built in {time.monotonic() - t:.1f} s: "
          + ", ".join(f"{k} {len(v) / 2**20:.2f} MB" for k, v in files.items()), flush=True)

    ctx = mp.get_context("fork")
    try:
        if server is not None:
            t = time.monotonic()
            server.__enter__()
            url, tree = server.url, Tree(root=server.ps)
            print(f"  server up in {time.monotonic() - t:.0f} s at {url}", flush=True)
        else:
            url, tree = args.url, Tree(port=urlsplit(args.url).port)
            log_from = os.path.getsize(args.server_log) if args.server_log else 0
        results = ctx.Queue()
        warm = [ctx.Process(target=_warm, args=(url, results), daemon=True) for _ in range(2)]
        for p in warm:
            p.start()
        for p in warm:
            p.join(timeout=120)
            if p.is_alive():
                p.terminate()
        while True:
            try:
                kind, r = results.get(timeout=0.5)
            except queue.Empty:
                break
            print(f"  warm-up session: pull {r['pull'] or float('nan'):.1f} s"
                  + (f", error {r['error']}" if r["error"] else ""), flush=True)
        time.sleep(2.0)

        sampler = Sampler(tree)
        sampler.start()
        time.sleep(0.5)
        rss_start = sampler.samples[0] if sampler.samples else tree.rss_gb()
        stop, abort = ctx.Event(), ctx.Event()
        left = ctx.Value("i", args.sessions)
        honest_procs = [ctx.Process(target=_honest_lane, args=(url, 100 + k, stop, left, args.control_timeout, results),
                                    daemon=True) for k in range(args.lanes)]
        hostile_proc = ctx.Process(target=_hostile_lane, args=(url, args.items, files, args.gap, abort,
                                                               args.upload_timeout, results), daemon=True)
        start = time.monotonic()
        for p in [*honest_procs, hostile_proc]:
            p.start()
        honest, hostile, started = [], [], []
        procs = [*honest_procs, hostile_proc]

        def drain(wait: float) -> None:
            try:
                kind, r = results.get(timeout=wait)
            except queue.Empty:
                return
            if kind == "honest":
                honest.append(r)
            elif kind == "hostile":
                hostile.append(r)
                seconds = f"{r['seconds']:.1f} s" if r["seconds"] is not None else "no answer"
                print(f"  [{time.monotonic() - start:5.0f} s] {r['key']}: {seconds}"
                      + (f", {r['chars']:,} chars" if r["chars"] is not None else "")
                      + (f" ({r['error']})" if r["error"] else ""), flush=True)
            elif kind == "hostile_start":
                started.append(r)

        while any(p.is_alive() for p in procs):
            drain(0.2)
            elapsed = time.monotonic() - start
            if not hostile_proc.is_alive() and elapsed >= args.duration:
                stop.set()
            if elapsed >= args.max_seconds:
                print(f"  hard stop at {elapsed:.0f} s", flush=True)
                stop.set(), abort.set()
                break
        stop.set(), abort.set()
        grace = time.monotonic() + 20
        while time.monotonic() < grace and any(p.is_alive() for p in procs):
            drain(0.2)
        killed = [p for p in procs if p.is_alive()]
        for p in killed:
            p.terminate()
            p.join(timeout=5)
        while True:
            before = len(honest) + len(hostile) + len(started)
            drain(0.1)
            if len(honest) + len(hostile) + len(started) == before:
                break
        soak_seconds = time.monotonic() - start
        time.sleep(2.0)  # closed sessions let go
        sampler.halt.set()
        sampler.join(timeout=5)
        rss_end = tree.rss_gb()
        rss_peak = max(sampler.samples + [rss_end, rss_start])
        log_text = ""
        if server is not None:
            server.log.seek(0)
            log_text = server.log.read()
        elif args.server_log:
            with open(args.server_log, errors="replace") as log:
                log.seek(log_from)
                log_text = log.read()
        log_errors, disconnects = [], []
        for error in server_errors(log_text):
            (disconnects if error.endswith(DISCONNECTS) else log_errors).append(error)
        if server is not None and server.proc.poll() is not None:
            log_errors.append(f"the server exited ({server.proc.returncode})")
    finally:
        if server is not None:
            server.__exit__(None, None, None)

    # -- the report ------------------------------------------------------------------------------------
    by_key = {r["key"]: r for r in hostile}
    print(f"\nhostile uploads (from the first chunk: sent = the last chunk handed to the socket, answered = "
          f"the box's status shows the answer; target {ANSWER_TARGET:.0f} s):")
    for item in args.items:
        r = by_key.get(item.key)
        if r is None:
            print(f"  {item.key:12s} {len(files[item.key]) / 2**20:7.2f} MB  "
                  + ("interrupted" if item.key in started else "not sent (stopped)"))
            continue
        answer = f"{r['seconds']:6.2f} s" if r["seconds"] is not None else "   none "
        sent = f"{r['sent']:5.2f} s" if r["sent"] is not None else "   -   "
        print(f"  {item.key:12s} {r['bytes'] / 2**20:7.2f} MB  sent {sent}  answered {answer}  "
              + (f"{r['chars']:>11,} chars  {r['alert']:8s} {ascii(r['excerpt'])}" if r["chars"] is not None
                 else f"(first change {r['first_change']:.1f} s) " if r["first_change"] is not None else "")
              + (f" error: {r['error']}" if r["error"] else ""))
    unanswered = [item.key for item in args.items if by_key.get(item.key, {}).get("seconds") is None]
    slow = [r["key"] for r in hostile if r["seconds"] is not None and r["seconds"] > ANSWER_TARGET]
    failed = [r for r in honest if r["error"]]
    controls = [s for r in honest for _, s in r["controls"] if s is not None]
    print(f"\nhonest sessions: {len(honest)} ({len(failed)} failed), {len(controls)} controls answered in "
          f"{soak_seconds:.0f} s")
    for kind in ("setting", "model", "tab"):
        seconds = [s for r in honest for k, s in r["controls"] if k == kind and s is not None]
        print(f"  {kind:8s}: {len(seconds):3d} answered, median {q(seconds, 50):.2f} s, p95 {q(seconds, 95):.2f} s, "
              f"max {max(seconds, default=float('nan')):.2f} s")
    pulls = [r["pull"] for r in honest if r["pull"] is not None]
    print(f"  pull    : median {q(pulls, 50):.2f} s, p95 {q(pulls, 95):.2f} s")
    for r in failed[:5]:
        print(f"  failed: {r['error']}")
    if killed:
        print(f"  {len(killed)} client process(es) stopped at the hard stop")
    for line in log_errors[:8]:
        print(f"  server error: {line}")
    if disconnects:
        print(f"  server: {len(disconnects)} tracebacks of a write to a client that had left ({disconnects[0]}; "
              "not counted)")
    print(f"server RSS (all its processes): start {rss_start:.2f} GB, end {rss_end:.2f} GB, "
          f"peak {rss_peak:.2f} GB ({len(sampler.samples)} samples)")

    honest_killed = sum(1 for p in killed if p is not hostile_proc)
    errors = len(log_errors) + len(unanswered) + len(slow) + len(failed) + honest_killed
    answered = [r["seconds"] for r in hostile if r["seconds"] is not None]
    longest = max((r["chars"] for r in hostile if r["chars"] is not None), default=0)
    late = (f"{len(unanswered)} of {len(args.items)} unanswered after {args.upload_timeout:.0f} s; "
            if unanswered else "")
    print(f"soak: errors {errors} (server {len(log_errors)}, uploads {len(unanswered) + len(slow)}, sessions "
          f"{len(failed) + honest_killed}), hostile answered <= "
          + (f"{max(answered):.1f} s" if answered else "-")
          + f" ({late}max message {longest:,} chars), honest p95 {q(controls, 95):.2f} s, "
          f"server RSS {rss_start:.2f} -> {rss_end:.2f} GB (peak {rss_peak:.2f} GB)")


if __name__ == "__main__":
    main(sys.argv[1:])
