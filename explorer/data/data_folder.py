"""Which reader a set of files needs, and every dataset in a folder (a class's data, prepared once).

- one ``.csv`` / ``.tsv`` / ``.txt``: :func:`~explorer.data.user_data.from_csv`;
- one ``.npz``: :func:`~explorer.data.npz_files.from_npz`;
- IDX files (gzipped or raw): images are told from labels by their headers (3 or 4 vs 1
  dimensions), the test pair from the train pair by ``t10k`` / ``test`` in its name
  (or, without names, by being the smaller), then :func:`~explorer.data.idx_files.mnist_from_files`.

Files that are none of these (a README, a licence, a ``.txt`` note next to IDX files) are
not data: they are left out, and :func:`from_folder` lists them as skipped.

>>> import numpy as np
>>> ds = from_files({"points.csv": b"1,2,0\\n3,4,1\\n5,6,0\\n7,8,1\\n", "README.md": b"# points"})
>>> ds.name, ds.num_features, ds.class_names
('points', 2, ['0', '1'])
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .data_types import Dataset, DatasetError
from .idx_files import TYPE_NAMES, idx_header, mnist_from_files, name_and_stream
from .messages import quote_list, quoted
from .npz_files import from_npz
from .user_data import from_csv

__all__ = ["from_files", "from_folder", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
DATA_SUFFIXES = (*TABLE_SUFFIXES, ".npz")
MAX_FILES = 4
NOT_DATA = "not a data file (a CSV, .tsv, .txt, .npz or IDX file); skipped."


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def _is_idx(name: str, source) -> bool:
    """Whether a file is named like an IDX file (``idx`` or ``ubyte`` in its name) or starts as one does
    (0, 0, a type byte, the number of dimensions; gzipped or not). Only its first bytes are read."""
    if "idx" in name.lower() or "ubyte" in name.lower():
        return True
    try:
        _, stream = name_and_stream(source, name)
        with stream:
            head = stream.read(4)
    except Exception:  # unreadable, over the size limit, damaged gzip: not recognisably IDX
        return False
    return len(head) == 4 and head[0] == head[1] == 0 and head[2] in TYPE_NAMES and head[3] >= 1


def _not_data(files: dict) -> list[str]:
    """The names among ``files`` that are not data: neither a table, a ``.npz`` nor an IDX file, and any
    ``.txt`` next to IDX files (a note such as README.txt; a table is never read together with IDX files)."""
    idx = {n for n in files if _suffix(n) not in DATA_SUFFIXES and _is_idx(n, files[n])}
    return sorted(n for n in files if n not in idx and (_suffix(n) not in DATA_SUFFIXES or
                                                         (idx and _suffix(n) == ".txt")))


def _idx_role(name: str, source) -> tuple[str, str, int]:
    """("images" | "labels", "train" | "test" | "", declared count) from the file's header and name."""
    display, stream = name_and_stream(source, name)
    with stream:
        _, shape = idx_header(stream, display)
    kind = "labels" if len(shape) == 1 else "images"
    lower = name.lower()
    split = "test" if ("t10k" in lower or "test" in lower) else ("train" if "train" in lower else "")
    return kind, split, shape[0]


def _assign_idx(files: dict) -> dict:
    """{("train" | "test", "images" | "labels"): source} from up to four IDX files."""
    roles = {name: _idx_role(name, src) for name, src in files.items()}
    by_kind = {kind: [n for n, r in roles.items() if r[0] == kind] for kind in ("images", "labels")}
    if len(by_kind["images"]) != len(by_kind["labels"]) or len(by_kind["images"]) not in (1, 2):
        raise DatasetError(
            f"IDX files come as an images file and a labels file (train), optionally a second pair (test); "
            f"got {len(by_kind['images'])} images and {len(by_kind['labels'])} labels files "
            f"({quote_list(sorted(files))}).")
    out = {}
    for kind, names in by_kind.items():
        if len(names) == 1:
            out[("train", kind)] = files[names[0]]
            continue
        named = {roles[n][1]: n for n in names if roles[n][1]}
        if set(named) != {"train", "test"}:  # no telling names: the larger file is the train split
            named = dict(zip(("train", "test"), sorted(names, key=lambda n: -roles[n][2])))
        for split, n in named.items():
            out[(split, kind)] = files[n]
    return out


def from_files(files, name: str | None = None, label="last", header="auto", delimiter: str | None = None,
               **split) -> Dataset:
    """One dataset from a set of files: a CSV, a ``.npz`` or up to four IDX files.

    Files that are not data (see the module's text) are left out; the rest must make one
    dataset, and the reader is chosen by their names and headers.

    Parameters
    ----------
    files : str, pathlib.Path, list of paths or dict of {str: bytes or path}
        A path, a list of paths, or ``{filename: bytes}`` (an upload); a dict's values may
        also be paths.
    name : str, optional
        The dataset's name; by default the file's stem (``iris.csv``: ``iris``), or for IDX
        files the stem their names share.
    label : str or int, default "last"
        The label column of a CSV, passed to :func:`~explorer.data.user_data.from_csv`.
    header : bool or "auto", default "auto"
        Whether a CSV's first row is a header, passed to :func:`~explorer.data.user_data.from_csv`.
    delimiter : str, optional
        A CSV's separator (one character); told from the file by default.
    **split
        ``test_fraction`` and ``seed`` of the seeded split, for the readers that make one.

    Returns
    -------
    Dataset
        The dataset the data files hold (see :class:`~explorer.data.data_types.Dataset`).

    Raises
    ------
    DatasetError
        No file, no data file among them, more than ``MAX_FILES`` data files, a CSV or ``.npz``
        given with other data files, IDX files that are not one or two (images, labels) pairs,
        or whatever the chosen reader refuses.

    Examples
    --------
    >>> ds = from_files({"points.csv": b"1,2,0\\n3,4,1\\n5,6,0\\n7,8,1\\n", "LICENSE": b"MIT"}, test_fraction=0.5)
    >>> ds.name, ds.num_features, len(ds.X_train), len(ds.X_test)
    ('points', 2, 2, 2)
    """
    if isinstance(files, (str, Path)):
        files = [files]
    if not isinstance(files, dict):
        files = {Path(p).name: Path(p) for p in files}
    if not files:
        raise DatasetError("No file given.")
    skipped = _not_data(files)
    if len(skipped) == len(files):
        raise DatasetError(f"No data file among {quote_list(sorted(files))}: a dataset is a CSV (.csv, .tsv, .txt), "
                           "a .npz or IDX files.")
    files = {n: source for n, source in files.items() if n not in skipped}
    if len(files) > MAX_FILES:
        raise DatasetError(f"{len(files)} files given; a dataset is one CSV, one .npz or up to {MAX_FILES} IDX files.")
    names = sorted(files)
    tables = [n for n in names if _suffix(n) in DATA_SUFFIXES]
    if tables:
        if len(files) > 1:
            raise DatasetError(f"A CSV or .npz dataset is one file; got {len(files)} ({quote_list(names)}).")
        (filename,) = names
        stem = name or Path(filename).stem
        if _suffix(filename) == ".npz":
            return from_npz(files[filename], name=stem, **split)
        return from_csv(files[filename], label=label, header=header, name=stem, delimiter=delimiter, **split)
    roles = _assign_idx(files)
    test = (roles.get(("test", "images")), roles.get(("test", "labels")))
    stem = name or _common_stem(names)
    return mnist_from_files(roles[("train", "images")], roles[("train", "labels")], *test, name=stem, **split)


def _common_stem(names: list[str]) -> str:
    first = names[0].split("-")[0].split(".")[0]
    return first if all(n.startswith(first) for n in names) and first not in ("train", "t10k", "test") else "idx files"


def _groups(folder: Path) -> tuple[list[tuple[str, str, dict]], dict[str, str]]:
    """The folder's would-be datasets as ``(name, name if another has that name, {filename: path})``, and
    the files that are not data or cannot be listed (by their path in the folder) with the reason."""
    groups, skipped, loose = [], {}, {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            try:
                files = {p.name: p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")}
            except OSError as exc:
                skipped[f"{path.name}/"] = f"{quoted(path.name)} could not be listed ({exc.strerror})."
                continue
            not_data = _not_data(files)
            skipped.update({f"{path.name}/{n}": NOT_DATA for n in not_data})
            if len(not_data) == len(files):
                skipped[f"{path.name}/"] = "holds no data file; skipped."
            else:
                groups.append((path.name, f"{path.name}/", {n: p for n, p in files.items() if n not in not_data}))
        elif _suffix(path.name) in DATA_SUFFIXES:
            groups.append((path.stem, path.name, {path.name: path}))
        elif path.is_file():
            loose[path.name] = path
    not_data = _not_data(loose)
    skipped.update({n: NOT_DATA for n in not_data})
    if len(not_data) < len(loose):
        idx = {n: p for n, p in loose.items() if n not in not_data}
        groups.append((folder.name, f"{folder.name} (IDX files)", idx))
    return groups, skipped


def from_folder(folder, progress=None) -> tuple[dict[str, Dataset], dict[str, str]]:
    """Every dataset in a folder, each read on its own, with the files that were refused or skipped.

    The datasets are each CSV / ``.npz`` file (the label in the last column, header detected),
    the IDX files lying in the folder itself (one dataset named after the folder), and each
    subfolder's files (one dataset named after the subfolder). A dataset is named after its
    file's stem (``iris``), or its whole file name where another dataset of the folder has that
    stem (``iris.csv`` and ``iris.npz``; a subfolder ``iris/``). One bad file never hides the
    others (whatever goes wrong in its reader), and files that are not data are listed as skipped.

    Parameters
    ----------
    folder : str or pathlib.Path
        The folder to read (hidden files, whose names start with ``.``, are ignored).
    progress : callable, optional
        ``progress(done, total)`` is called after each would-be dataset is read.

    Returns
    -------
    datasets : dict of {str: Dataset}
        The datasets read, by name.
    refused : dict of {str: str}
        For each file or subfolder that gave no dataset, the reason (a bounded message).

    Raises
    ------
    DatasetError
        ``folder`` is not a folder or cannot be listed.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (Path(tmp) / "a.csv").write_bytes(b"1,0\\n2,1\\n3,0\\n4,1\\n")
    ...     _ = (Path(tmp) / "notes.md").write_text("not data")
    ...     found, refused = from_folder(tmp)
    >>> sorted(found), refused
    (['a'], {'notes.md': 'not a data file (a CSV, .tsv, .txt, .npz or IDX file); skipped.'})
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{quoted(folder)} is not a folder.")
    try:
        groups, refused = _groups(folder)
    except OSError as exc:
        raise DatasetError(f"{quoted(folder)} could not be listed ({exc.strerror}).") from None
    shared = Counter(preferred for preferred, _, _ in groups)
    found = {}
    for i, (preferred, alternative, files) in enumerate(groups):
        name = preferred if shared[preferred] == 1 else alternative
        if name in found or name in refused:
            refused[alternative] = f"Another dataset of the folder is named {quoted(name)}; this one is skipped."
        else:
            try:
                found[name] = from_files(files, name=name)
            except DatasetError as exc:
                refused[name] = str(exc)
            except Exception as exc:  # a reader's bug must not hide the folder's other datasets either
                refused[name] = f"{quoted(name)} could not be read ({type(exc).__name__})."
        if progress:
            progress(i + 1, len(groups))
    return found, refused
