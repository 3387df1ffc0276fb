"""Which reader a set of files needs, and every dataset in a folder (a class's data, prepared once).

- one ``.csv`` / ``.tsv`` / ``.txt``: :func:`~explorer.models.user_data.from_csv`;
- one ``.npz``: :func:`~explorer.models.user_data.from_npz`;
- IDX files (gzipped or raw): images are told from labels by their headers (3 or 4 vs 1
  dimensions), the test pair from the train pair by ``t10k`` / ``test`` in its name
  (or, without names, by being the smaller), then :func:`~explorer.models.idx_files.mnist_from_files`.

>>> import numpy as np
>>> ds = from_files({"points.csv": b"1,2,0\\n3,4,1\\n5,6,0\\n7,8,1\\n"})
>>> ds.name, ds.num_features, ds.class_names
('points', 2, ['0', '1'])
"""

from __future__ import annotations

from pathlib import Path

from .data_types import Dataset, DatasetError
from .idx_files import _name_and_stream, idx_header, mnist_from_files
from .user_data import from_csv, from_npz

__all__ = ["from_files", "from_folder", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
MAX_FILES = 4


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def _idx_role(name: str, source) -> tuple[str, str, int]:
    """("images" | "labels", "train" | "test" | "", declared count) from the file's header and name."""
    display, stream, _ = _name_and_stream(source, name)
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
            f"({', '.join(sorted(files))}).")
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


def from_files(files, name: str | None = None, label="last", header="auto", **split) -> Dataset:
    """One dataset from ``files``: a path, a list of paths, or ``{filename: bytes}`` (an upload).

    ``label`` and ``header`` go to :func:`from_csv`; ``split`` (``test_fraction``, ``seed``) to
    the readers that make a seeded split.
    """
    if isinstance(files, (str, Path)):
        files = [files]
    if not isinstance(files, dict):
        files = {Path(p).name: Path(p) for p in files}
    if not files:
        raise DatasetError("No file given.")
    if len(files) > MAX_FILES:
        raise DatasetError(f"{len(files)} files given; a dataset is one CSV, one .npz or up to {MAX_FILES} IDX files.")
    names = sorted(files)
    tables = [n for n in names if _suffix(n) in TABLE_SUFFIXES or _suffix(n) == ".npz"]
    if tables:
        if len(files) > 1:
            raise DatasetError(f"A CSV or .npz dataset is one file; got {len(files)} ({', '.join(names)}).")
        (filename,) = names
        stem = name or Path(filename).stem
        if _suffix(filename) == ".npz":
            return from_npz(files[filename], name=stem, **split)
        return from_csv(files[filename], label=label, header=header, name=stem, **split)
    roles = _assign_idx(files)
    test = (roles.get(("test", "images")), roles.get(("test", "labels")))
    stem = name or _common_stem(names)
    return mnist_from_files(roles[("train", "images")], roles[("train", "labels")], *test, name=stem, **split)


def _common_stem(names: list[str]) -> str:
    first = names[0].split("-")[0].split(".")[0]
    return first if all(n.startswith(first) for n in names) and first not in ("train", "t10k", "test") else "idx files"


def from_folder(folder, progress=None) -> tuple[dict[str, Dataset], dict[str, str]]:
    """Every dataset in ``folder``: each CSV / ``.npz`` file (the label in the last column, header
    detected), the IDX files lying in the folder itself (one dataset named after the folder), and
    each subfolder's files (one dataset named after the subfolder).

    Returns ``(datasets by name, refusal message by name)``: one bad file never hides the others.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder.")
    groups: dict[str, list[Path]] = {}
    loose = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            groups[path.name] = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif _suffix(path.name) in (*TABLE_SUFFIXES, ".npz"):
            groups[path.stem] = [path]
        elif path.is_file():
            loose.append(path)
    if loose:
        groups[folder.name] = loose
    found, refused = {}, {}
    for i, (name, paths) in enumerate(groups.items()):
        try:
            found[name] = from_files(paths, name=name)
        except (DatasetError, OSError) as exc:
            refused[name] = str(exc)
        if progress:
            progress(i + 1, len(groups))
    return found, refused
