"""Hostile checkpoints are refused from the sizes they declare, before anything is allocated.

The cases of issue 10: a 1 kB file that declares a huge conv layer, an input of
20000 x 20000 pixels, a deflate bomb, a negative layer size; and the limits' edges.
Those of issue 31: tensors that claim more values than their storage holds (stride 0,
overlapping views), pickles that take long to read, input shapes and class names whose
repr runs to megabytes (every message stays under MAX_MESSAGE_CHARS and names the problem).
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch

from explorer import zoo
from explorer.data import messages
from explorer.modelfiles import checkpoints, declared_sizes


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


def _mlp_checkpoint(**changes) -> bytes:
    """A valid checkpoint of a 2 -> 3 -> 2 MLP, with ``changes`` to its payload."""
    small = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    return _checkpoint(zoo.spec_of(small), [2], small.state_dict()) if not changes else _payload(
        {"format": zoo.FORMAT, "version": 1, "layers": zoo.spec_of(small), "input_shape": [2],
         "class_names": [], "state_dict": small.state_dict(), **changes})


def _payload(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def stride_zero_weights() -> bytes:
    """One stored value seen as a 8190 x 4096 weight (stride 0): 33.5 M weights declared, 4 bytes held."""
    one = torch.zeros(1)
    return _checkpoint([{"type": "linear", "in": 4096, "out": 8190}], [4096],
                       {"0.weight": one.expand(8190, 4096), "0.bias": one.expand(8190)})


def overlapping_view() -> bytes:
    """A 3 x 3 weight over 10 stored values whose rows overlap (strides (1, 1)): 9 <= 10, yet not its own."""
    return _checkpoint([{"type": "linear", "in": 3, "out": 3}], [3],
                       {"0.weight": torch.arange(10.0).as_strided((3, 3), (1, 1)), "0.bias": torch.zeros(3)})


def views_past_the_weight_limit() -> bytes:
    """513 names for one stored block of 2^16 values: each a proper view, 513 x 2^16 > 2^25 in all."""
    block = torch.zeros(2**16)
    return _checkpoint([{"type": "linear", "in": 2, "out": 2}], [2], {f"w{i}": block for i in range(513)})


def _archive(pickled: bytes) -> bytes:
    """A torch archive (deflated) around the pickle ``pickled``: what torch.save writes, minus tensors."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


def _zeros_pickle(n: int) -> bytes:
    """A pickle of a list of ``n`` zeros, one BININT1 opcode (2 bytes) each."""
    return b"\x80\x02]q\x00(" + b"K\x00" * n + b"e."


def many_opcodes() -> bytes:
    """A 4 MB pickle of 2 M opcodes (torch.load takes seconds; a 40 MB one took 73 s here)."""
    return _archive(_zeros_pickle(2_000_000))


def opcodes_under_the_byte_limit() -> bytes:
    return _archive(_zeros_pickle(300_000))


def many_entries() -> bytes:
    out = io.BytesIO(_mlp_checkpoint())
    with zipfile.ZipFile(out, "a") as archive:
        for i in range(5000):
            archive.writestr(f"archive/data/extra{i}", b"")
    return out.getvalue()


def legacy_format() -> bytes:
    """torch's pre-1.6 format: one long pickle, which no zip directory bounds."""
    buffer = io.BytesIO()
    torch.save({"format": zoo.FORMAT}, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def input_shape_of_15_mb() -> bytes:
    """15,000 references to one 1,000-character string: a 30 kB pickle, a 15 MB repr."""
    return _mlp_checkpoint(input_shape=["ab" * 500] * 15_000)


def input_shape_of_1_m_sizes() -> bytes:
    """1 M sizes: a 2 MB pickle (deflated to a few kB); refused from the zip directory."""
    pickled = pickle.dumps({"format": zoo.FORMAT, "input_shape": [1] * 1_000_000}, protocol=2)
    return _archive(pickled)


def nested_input_shape() -> bytes:
    """Lists that share their items 60 levels deep: a repr of 2^60 entries from a 1 kB pickle."""
    nest = [1]
    for _ in range(60):
        nest = [nest, nest]
    return _mlp_checkpoint(input_shape=nest)


def huge_integer_size() -> bytes:
    return _mlp_checkpoint(input_shape=[10**600])


def many_class_names() -> bytes:
    """10,000 references to one name of 10,000 characters: a 20 kB pickle, a 100 MB repr."""
    return _mlp_checkpoint(class_names=["c" * 10_000] * 10_000)


def long_class_name() -> bytes:
    return _mlp_checkpoint(class_names=["a", "x" * 300_000])


def class_name_not_a_string() -> bytes:
    return _mlp_checkpoint(class_names=["a", [0] * 10_000])


HOSTILE = {
    "huge conv layer": (huge_conv, r"layers up to Layer 0 \(conv2d\) declare 1,073,745,920 weights; the limit is"),
    "20000 x 20000 input": (huge_input, r"input shape \(1, 20000, 20000\) has 400,000,000 entries; the limit"),
    "negative layer size": (negative_size, r"Layer 0 \(linear\): out must be an integer >= 1; the file says -4"),
    "huge activation": (huge_activation, r"Layer 0 \(conv2d\) outputs 64,000,000 values per sample"),
    "declared weights not in the file": (more_weights_than_held, "declares 500,002 weights and the file holds 4"),
    "deflate bomb": (deflate_bomb, "would unpack to 256 MB; the limit is 200 MB"),
    "stride-0 storage declaring 33 M weights": (
        stride_zero_weights, r"The tensor '0.weight' declares 33,546,240 values \(shape \(8190, 4096\), strides "
                              r"\(0, 0\)\) over a storage of 1; a checkpoint holds every value it declares"),
    "overlapping view": (overlapping_view, r"The tensor '0.weight' declares 9 values .* over a storage of 10"),
    "views past the weight limit": (views_past_the_weight_limit,
                                    "tensors up to 'w512' hold 33,619,968 values; the limit is 33,554,432"),
    "many pickle opcodes": (many_opcodes, "pickle .* holds 4,000,008 bytes; the limit is 1,048,576"),
    "opcodes under the byte limit": (opcodes_under_the_byte_limit, "pickle holds more than 262,144 opcodes"),
    "many archive entries": (many_entries, "archive has 5,0[0-9][0-9] entries; the limit is 4,112"),
    "legacy torch format": (legacy_format, "Not a readable torch checkpoint: .* zip archive, and this file is not"),
    "input shape of 15 MB": (input_shape_of_15_mb, r"The input shape must list 1 to 3 sizes, e.g. \[64\] or \[1, 28, "
                                                   r"28\]; the file says \['ababab[ab]*… \(15,000 entries\)\."),
    "input shape of 1 M sizes": (input_shape_of_1_m_sizes, "pickle .* holds 2,00[0-9],[0-9]{3} bytes; the limit"),
    "nested input shape": (nested_input_shape, r"The input shape must be an integer >= 1; the file says \[\[\["),
    "huge integer size": (huge_integer_size, "The input shape is <an integer of 1,994 bits>; no size may pass "
                                             "4,194,304"),
    "10,000 class names": (many_class_names, "The file names 10,000 classes; the limit is 1,000"),
    "long class name": (long_class_name, r"Class name 1 \('xxxx*…'\) has 300,000 characters; the limit is 200"),
    "class name not a string": (class_name_not_a_string, r"Class name 1 must be a string; the file says \[0, 0, "),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_checkpoints_are_refused_with_the_limit_named(case, monkeypatch):
    """Each is refused naming its problem, in a bounded message, before any layer is built."""
    make, message = HOSTILE[case]
    data = make()
    assert len(data) < 2**20  # all of them are small files
    for builder in ("model_from_spec", "GraphModel"):
        monkeypatch.setattr(checkpoints, builder, lambda *args, **kwargs: pytest.fail("a model was built"))
    with pytest.raises(zoo.CheckpointError, match=message) as refusal:
        zoo.load_file(data)
    assert len(str(refusal.value)) <= messages.MAX_MESSAGE_CHARS


@pytest.mark.parametrize("make", [many_opcodes, opcodes_under_the_byte_limit, many_entries, legacy_format,
                                  input_shape_of_1_m_sizes])
def test_archives_that_take_long_to_read_never_reach_torch_load(make, monkeypatch):
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: pytest.fail("torch.load was called"))
    with pytest.raises(zoo.CheckpointError):
        zoo.load_file(make())


def test_torch_load_would_read_the_hostile_pickle():
    """The opcode limit is what refuses it: the file is a valid archive that torch reads."""
    assert torch.load(io.BytesIO(opcodes_under_the_byte_limit()), weights_only=True) == [0] * 300_000


def test_a_message_quotes_a_value_bounded_whatever_it_holds():
    assert messages.quoted("x" * 10**6) == "'" + "x" * 79 + "…'"
    assert messages.quoted(list(range(10**6))) == "[0, 1, 2, 3, 4, 5, ...]"
    assert messages.quoted(2**10**5) == "<an integer of 100,001 bits>"
    assert len(zoo.CheckpointError("x" * 10**6).args[0]) == messages.MAX_MESSAGE_CHARS


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
