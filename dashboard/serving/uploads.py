"""The upload widget: a file travels in chunks and a file over the limit never reaches Python.

Panel's ``FileDropper`` (FilePond in the browser) sends a file in chunks of
``CHUNK_BYTES``, so Bokeh's websocket limit (``--websocket-max-message-size`` in
run.sh) bounds one chunk, not the upload. The limit is held twice:

- in the browser, before anything is sent: FilePond refuses a larger file and says
  "File is too large, Maximum file size is 50 MB" (FilePond counts 1 MB as 10^6 bytes,
  a little under our 50 x 2^20: the stricter of the two is what the student meets);
- on the server, for a client that skips the browser's check: a file that announces more
  chunks than the limit allows, or whose bytes take the upload over it, is dropped at once
  (nothing more of it is kept) and ``refused`` names the limit.
"""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import panel as pn
import param

from explorer import zoo

from ..safe_text import MAX_QUOTE, bounded

CHUNK_BYTES = 8 * 2**20  # one websocket message of an upload


def limit_text(max_bytes: int) -> str:
    """An upload limit in words: ``50 MB`` (2^20 bytes each), or ``1000 bytes`` under one MB."""
    return f"{max_bytes // 2**20} MB" if max_bytes >= 2**20 else f"{max_bytes:,} bytes"


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


class Uploader(pn.widgets.FileDropper):
    """A FileDropper that holds an upload (all the files in its box) to ``max_bytes`` and
    ``max_files`` on both sides of the websocket.

    ``value`` is ``{filename: bytes}`` (Panel decodes ``text/*`` files to ``str``; use
    :meth:`files` for bytes). ``refused`` is the message of the last file the server dropped.
    """

    max_bytes = param.Integer(default=None, bounds=(1, None), constant=True,
                              doc="The most bytes an upload (the files in the box) may hold "
                                  "(default: zoo.MAX_UPLOAD_BYTES).")
    refused = param.String(default="", doc="Why the server dropped the last refused file, or ''.")

    _rename = {**pn.widgets.FileDropper._rename, "max_bytes": None, "refused": None}  # server side only

    def __init__(self, **params):
        max_bytes = params.setdefault("max_bytes", zoo.MAX_UPLOAD_BYTES)
        params.setdefault("max_file_size", f"{max_bytes // 2**20}MB" if max_bytes >= 2**20
                          else f"{max(1, max_bytes // 1000)}KB")  # FilePond's units
        params.setdefault("max_total_file_size", params["max_file_size"])
        params.setdefault("chunk_size", CHUNK_BYTES)
        params.setdefault("layout", "compact")
        super().__init__(**params)
        self._lock = threading.Lock()
        self._parts: dict[str, dict[int, bytes]] = {}  # filename -> the chunks arrived, by number
        self._dropped: set[str] = set()  # files refused whose later chunks are ignored
        self._seen: dict[str, int] = {}  # filename -> id of the content arrived() last returned

    def files(self) -> dict[str, bytes]:
        """The uploaded files as bytes, by filename."""
        return {name: _as_bytes(data) for name, data in self.value.items()}

    def arrived(self) -> dict[str, bytes]:
        """The files that arrived since the last call, as bytes (a value change may only be a
        file taken out of the box, or one removed after the file that replaced it arrived)."""
        new = {name: _as_bytes(data) for name, data in self.value.items() if self._seen.get(name) != id(data)}
        self._seen = {name: id(data) for name, data in self.value.items()}
        return new

    def _process_event(self, event):
        """An upload chunk: kept by its number until the file is whole (the server's threads may
        hand a file's chunks over in any order, or at the same time), then given to FileDropper
        as one chunk."""
        if event.event_name != "upload_event":
            return super()._process_event(event)
        with self._lock:
            whole = self._receive(event.data)
        if whole is not None:
            super()._process_event(SimpleNamespace(event_name="upload_event", data={
                **event.data, "chunk": 1, "total_chunks": 1, "data": whole}))

    def _receive(self, data: dict) -> bytes | None:
        """Keep one chunk; the file's bytes once all its chunks are here, else None. A file that
        would take the upload over ``max_bytes`` (or announces more chunks than that allows) is
        dropped at once, with the rest of its chunks."""
        name, number, total = data["name"], int(data["chunk"]), int(data["total_chunks"])
        if name in self._dropped and number != 1:
            return None  # the rest of a file already dropped
        self._dropped.discard(name)
        parts = self._parts.get(name)
        if parts is None:
            if self.max_files and len({name, *self.value, *self._parts}) > self.max_files:
                self._drop(name, f"an upload is at most {self.max_files} files.")
                return None
            parts = self._parts[name] = {}
        if not 1 <= number <= total:
            return None
        parts[number] = data["data"]
        held = (sum(len(chunk) for chunks in self._parts.values() for chunk in chunks.values())
                + sum(len(v) for other, v in self.value.items() if other != name))
        most_chunks = math.ceil((self.max_bytes + 1) / self.chunk_size)  # FilePond sends ceil((size+1)/chunk)
        if held > self.max_bytes or total > most_chunks:
            self._drop(name, f"the upload would hold more than {limit_text(self.max_bytes)}.")
            return None
        if len(parts) < total:
            return None
        del self._parts[name]
        return b"".join(_as_bytes(parts[i]) for i in range(1, total + 1))

    def _drop(self, name: str, why: str) -> None:
        self._parts.pop(name, None)
        self._dropped.add(name)
        self._refuse(f"{bounded(name, MAX_QUOTE)} was not loaded: {why}")

    def _refuse(self, message: str) -> None:
        with param.discard_events(self):
            self.refused = message
        self.param.trigger("refused")  # the same message again is news too
