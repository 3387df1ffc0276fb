"""Where the app's datasets beyond the built-in ones live: the server's data folder and the sessions' uploads.

- The data folder (``bash run.sh serve --data DIR``, ``panel serve app.py --args --data DIR`` or the
  environment variable ``EXPLORER_DATA``) is read once per process, on first use, and every session
  is offered its datasets (``folder: NAME``).
- An uploaded dataset belongs to the session that uploaded it: the session's :class:`AppState` holds it
  and lists its name, and a session resolves a ``yours:`` name only among its own. Here it is only
  *reachable by its name*, through a weak reference, for the views' cached adapters that look data up
  by name. A name stands for one content, never two: ``yours: NAME [sha256 prefix]`` of the files and
  the reader's settings, the prefix made longer (16, then 64 hex digits) when a different content
  already holds the shorter name. Two sessions uploading the same files share the one read-only
  dataset; files that only share a name (or a prefix of their hash) never meet. No session can list
  another's datasets, and an upload is freed when the last session holding it closes.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import weakref

from explorer import datasets, zoo

from .safe_text import MAX_QUOTE, bounded
from .serving import jobs

DATA_ENV = "EXPLORER_DATA"
FOLDER_PREFIX = "folder: "
UPLOAD_PREFIX = "yours: "

_uploaded: "weakref.WeakValueDictionary[str, datasets.Dataset]" = weakref.WeakValueDictionary()  # by name
_by_content: "weakref.WeakValueDictionary[str, datasets.Dataset]" = weakref.WeakValueDictionary()  # by sha256
# an upload is read in a worker process (served), held to these; the reader's own limits come first
READ_MEMORY_BYTES = 2**30
READ_SECONDS = 30.0
DIGEST_LENGTHS = (8, 16, 64)  # hex digits of the content's hash a dataset's name shows, shortest first
_folder: dict = {}
_lock = threading.Lock()


def data_dir(argv: list[str] | None = None) -> str | None:
    """The data folder: ``--data DIR`` among the script's arguments (``panel serve app.py --args --data DIR``),
    else the environment variable ``EXPLORER_DATA``, else none."""
    argv = sys.argv if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--data" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--data="):
            return arg.split("=", 1)[1]
    return os.environ.get(DATA_ENV) or None


def remember_data_dir() -> None:
    """Keep the ``--data`` argument in the environment: Panel gives the script its arguments only while it runs."""
    folder = data_dir()
    if folder:
        os.environ[DATA_ENV] = folder


def folder_datasets() -> tuple[dict[str, datasets.Dataset], dict[str, str]]:
    """(datasets by name, refusal messages by file) of the data folder, read once per process."""
    with _lock:
        if "found" not in _folder:
            folder = data_dir()
            found, refused, shown = {}, {}, {}
            if folder:
                try:
                    found, refused = datasets.from_folder(folder)
                except Exception as exc:  # an unreadable folder: no folder datasets, every session still served
                    refused = {folder: f"{type(exc).__name__}: {exc}"}
            for name, ds in found.items():  # names bounded: a file name is the teacher's, shown to every session
                key = FOLDER_PREFIX + bounded(name, MAX_QUOTE)
                if key in shown:
                    refused[name] = f"its name is {key!r} too, once cut to {MAX_QUOTE} characters."
                else:
                    shown[key] = ds
            for name, message in refused.items():
                print(f"[data folder] {bounded(name, MAX_QUOTE)!r} refused: {bounded(message, 400)}", file=sys.stderr)
            _folder["found"] = shown
            _folder["refused"] = refused
        return _folder["found"], _folder["refused"]


def reset_folder() -> None:
    """Forget the folder's datasets (tests; a served process reads its folder once)."""
    with _lock:
        _folder.clear()


def read_upload(files: dict[str, bytes], label="last", header="auto") -> tuple[str, datasets.Dataset]:
    """Read uploaded files into a dataset: ``(its name, the dataset)``; raises DatasetError with the reason.

    The same files read with the same settings give the same name and, while some session
    holds it, the same (read-only) object. The reader runs as a worker job (when the app is
    served) held to ``READ_MEMORY_BYTES`` and ``READ_SECONDS``: the server's own memory never
    holds a file's parse.
    """
    size = sum(len(data) for data in files.values())
    if size > zoo.MAX_UPLOAD_BYTES:
        raise datasets.DatasetError(f"The upload holds {size / 2**20:.0f} MB; the limit is "
                                    f"{zoo.MAX_UPLOAD_BYTES // 2**20} MB (gzipped IDX files are smaller, or put "
                                    "the files in the server's data folder).")
    digest = hashlib.sha256(repr((label, header)).encode())
    for filename in sorted(files):
        digest.update(hashlib.sha256(filename.encode()).digest() + hashlib.sha256(files[filename]).digest())
    content = digest.hexdigest()
    with _lock:
        known = _by_content.get(content)
    if known is not None:
        return known.name, known
    try:
        ds = jobs.run(datasets.from_files, files, label=label, header=header, max_memory=READ_MEMORY_BYTES,
                      max_seconds=READ_SECONDS)
    except jobs.JobError as exc:
        raise datasets.DatasetError(f"The files could not be read within the server's limits for one upload "
                                    f"({READ_MEMORY_BYTES // 2**30} GB of memory, {READ_SECONDS:.0f} s): "
                                    f"{exc}") from None
    with _lock:
        known = _by_content.get(content)  # read meanwhile by another session
        if known is not None:
            return known.name, known
        stem = bounded(ds.name, MAX_QUOTE)
        ds.name = next(name for name in (f"{UPLOAD_PREFIX}{stem} [{content[:digits]}]" for digits in DIGEST_LENGTHS)
                       if name not in _uploaded)
        _uploaded[ds.name] = _by_content[content] = ds
    return ds.name, ds


def dataset(name: str) -> datasets.Dataset:
    """A folder or uploaded dataset by name (uploads only while a session holds them)."""
    folder = folder_datasets()[0]
    if name in folder:
        return folder[name]
    ds = _uploaded.get(name)
    if ds is None:
        raise KeyError(f"The dataset '{name}' is not loaded; add it again in the sidebar.")
    return ds
