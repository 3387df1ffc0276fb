"""Hostile checkpoints are refused from the sizes they declare, before anything is allocated.

The cases of issue 10: a 1 kB file that declares a huge conv layer, an input of
20000 x 20000 pixels, a deflate bomb, a negative layer size; and the limits' edges.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch

from explorer import zoo
from explorer.models import declared_sizes


def _checkpoint(layers, input_shape, state) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": zoo.FORMAT, "version": 1, "layers": layers, "input_shape": input_shape,
                "class_names": [], "state_dict": state}, buffer)
    return buffer.getvalue()


def huge_conv() -> bytes:
    layers = [{"type": "conv2d", "in": 64, "out": 4096, "kernel": [64, 64]}, {"type": "flatten"},
              {"type": "linear", "in": 4096, "out": 2}]  # 10^9 conv weights
    return _checkpoint(layers, [64, 64, 64], {"0.weight": torch.zeros(3)})


def huge_input() -> bytes:
    return _checkpoint([{"type": "flatten"}, {"type": "linear", "in": 400_000_000, "out": 2}], [1, 20000, 20000],
                       {"1.weight": torch.zeros(2)})


def negative_size() -> bytes:
    return _checkpoint([{"type": "linear", "in": 2, "out": -4}, {"type": "relu"},
                        {"type": "linear", "in": -4, "out": 2}], [2], {"0.weight": torch.zeros(8)})


def huge_activation() -> bytes:
    layers = [{"type": "conv2d", "in": 1, "out": 64, "kernel": 1}, {"type": "flatten"},
              {"type": "linear", "in": 64_000_000, "out": 2}]
    return _checkpoint(layers, [1, 1000, 1000], {"0.weight": torch.zeros(64)})


def more_weights_than_held() -> bytes:
    return _checkpoint([{"type": "linear", "in": 2, "out": 100_000}, {"type": "relu"},
                        {"type": "linear", "in": 100_000, "out": 2}], [2], {"0.weight": torch.zeros(4)})


def deflate_bomb() -> bytes:
    """A real small checkpoint plus one zip entry that inflates to 256 MB (about 250 kB packed)."""
    small = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    path = io.BytesIO()
    torch.save({"format": zoo.FORMAT, "version": 1, "layers": zoo.spec_of(small), "input_shape": [2],
                "class_names": [], "state_dict": small.state_dict()}, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data/bomb", "w", force_zip64=True) as entry:
            zeros = bytes(2**20)
            for _ in range(256):
                entry.write(zeros)
    return path.getvalue()


HOSTILE = {
    "huge conv layer": (huge_conv, r"layers up to Layer 0 \(conv2d\) declare 1,073,745,920 weights; the limit is"),
    "20000 x 20000 input": (huge_input, r"input shape \(1, 20000, 20000\) has 400,000,000 entries; the limit"),
    "negative layer size": (negative_size, r"Layer 0 \(linear\): out must be an integer >= 1; the file says -4"),
    "huge activation": (huge_activation, r"Layer 0 \(conv2d\) outputs 64,000,000 values per sample"),
    "declared weights not in the file": (more_weights_than_held, "declares 500,002 weights and the file holds 4"),
    "deflate bomb": (deflate_bomb, "would unpack to 256 MB; the limit is 200 MB"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_checkpoints_are_refused_with_the_limit_named(case):
    make, message = HOSTILE[case]
    data = make()
    assert len(data) < 400_000  # all of them are small files
    with pytest.raises(zoo.CheckpointError, match=message):
        zoo.load_file(data)


def test_a_file_over_the_upload_limit_names_the_limit():
    with pytest.raises(zoo.CheckpointError, match=f"the limit is {zoo.MAX_UPLOAD_BYTES // 2**20} MB"):
        zoo.load_file(bytes(zoo.MAX_UPLOAD_BYTES + 1))


def test_limits_admit_what_they_state():
    """At the limits exactly, the size check passes (and the zoo's own files pass it too)."""
    side = 2**10  # 1 x 1024 x 1024 = MAX_INPUT_ENTRIES
    assert side * side == declared_sizes.MAX_INPUT_ENTRIES
    declared_sizes.check_spec([{"type": "flatten"}, {"type": "linear", "in": side * side, "out": 2}],
                              [1, side, side], weights_held=2 * side * side + 2)
    with pytest.raises(declared_sizes.SizeLimitError, match="entries; the limit"):
        declared_sizes.check_spec([{"type": "flatten"}], [1, side, side + 1], weights_held=0)
    for name in zoo.names():
        assert zoo.load(name) is not None


def test_refusals_allocate_almost_nothing(tmp_path):
    """Peak memory of loading every hostile file, in a fresh interpreter: under 150 MB over the baseline."""
    files = []
    for i, (make, _) in enumerate(HOSTILE.values()):
        files.append(tmp_path / f"hostile-{i}.pt")
        files[-1].write_bytes(make())
    code = textwrap.dedent("""
        import resource, sys
        from explorer import zoo
        zoo.load_file(zoo.DATA_DIR / zoo.card("moons-mlp")["file"])  # warm up the loader's imports
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for path in sys.argv[1:]:
            try:
                zoo.load_file(path)
            except zoo.CheckpointError:
                pass
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, check=True)
    growth_mb = float(out.stdout.decode().strip().splitlines()[-1])
    assert growth_mb < 150, f"refusing the hostile files raised peak memory by {growth_mb:.0f} MB"
