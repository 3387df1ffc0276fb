"""The soak bench's hostile files are what they claim (small sizes; no server)."""

import io
import zipfile

import numpy as np
import torch

from bench import bench_soak as soak


def _payload(data: bytes) -> dict:
    return torch.load(io.BytesIO(data), weights_only=True)


def test_long_lists_are_spliced_into_a_checkpoint_torch_reads_with_weights_only():
    shape = _payload(soak.huge_input_shape_checkpoint(repr_chars=3000))
    assert shape["input_shape"] == [1] * 1000 and len(repr(shape["input_shape"])) == 3000
    padded = _payload(soak.opcode_heavy_checkpoint(opcodes=2500))
    assert padded["padding"] == [None] * 2500 and padded["layers"] == soak.checkpoint_payload()["layers"]
    big = soak.huge_input_shape_checkpoint(repr_chars=3_000_000)
    assert len(big) < 50_000  # deflated: a tiny zip
    assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zipfile.ZipFile(io.BytesIO(big)).infolist())


def test_stride0_checkpoint_declares_many_weights_in_tiny_storage():
    data = soak.stride0_checkpoint(hidden=300, inputs=200)
    weight = _payload(data)["state_dict"]["0.weight"]
    assert weight.shape == (300, 200) and weight.stride() == (0, 0)
    assert weight.untyped_storage().nbytes() == 4 and len(data) < 10_000


def test_csvs_have_the_cells_and_names_claimed():
    wide = soak.wide_csv(columns=1000, lines=2).decode().splitlines()
    assert len(wide) == 2 and all(len(line.split(",")) == 1000 for line in wide)
    header, *rows = soak.repeated_header_csv(columns=500).decode().splitlines()
    assert header.split(",") == ["a"] * 500 and len(rows) == 2 and len(rows[0].split(",")) == 500
    assert soak.hostile_column_csv().decode().splitlines()[0] == f"{soak.XSS},v,label"


def test_npz_files_hold_the_huge_members():
    names = np.load(io.BytesIO(soak.huge_class_names_npz(names=1000)))
    assert len(set(names["class_names"])) == 1000 and names["X"].shape == (10, 2)
    shape = np.load(io.BytesIO(soak.huge_image_shape_npz(entries=10_000)))
    assert shape["image_shape"].shape == (10_000,)
    assert len(soak.garbage_checkpoint()) == 4096 and not zipfile.is_zipfile(io.BytesIO(soak.garbage_checkpoint()))


def test_shown_text_strips_tags_and_reads_entities_as_a_browser_shows_them():
    escaped = "&lt;p&gt;&lt;strong&gt;&amp;lt;img src=x&amp;gt;.pt was not loaded.&lt;/strong&gt;&lt;/p&gt;"
    assert soak.shown_text(escaped) == "<img src=x>.pt was not loaded."
    assert soak.is_progress("Reading wide.csv…")
    assert not soak.is_progress("wide.csv was not loaded: 12,000,000 cells…")


def test_server_errors_are_counted_once_each_with_their_exception():
    log = "\n".join([
        "2026-01-01 12:00:00,000 INFO fine",
        "2026-01-01 12:00:01,000 ERROR: Callback failed",
        "Traceback (most recent call last):", '  File "a.py", line 1, in f', "KeyError: 'k'", "",
        "The above exception was the direct cause of the following exception:", "",
        "Traceback (most recent call last):", '  File "b.py", line 2, in g', "ValueError: boom",
        "2026-01-01 12:00:01,500 exception calling callback for <Future>",  # the same failure, reported again
        "Traceback (most recent call last):", '  File "b.py", line 2, in g', "ValueError: boom",
        "2026-01-01 12:00:02,000 exception calling callback for <Future>",
        "Traceback (most recent call last):", '  File "c.py", line 3, in h', "tornado.websocket.WebSocketClosedError",
        "Traceback (most recent call last):", '  File "d.py", line 4, in k', "NameError: stray",
        "2026-01-01 12:00:03,000 WARNING not an error"])
    assert soak.server_errors(log) == [
        "2026-01-01 12:00:01,000 ERROR: Callback failed | ValueError: boom",
        "2026-01-01 12:00:02,000 exception calling callback for <Future> | tornado.websocket.WebSocketClosedError",
        "NameError: stray"]
