"""Checkpoint files (explorer.modelfiles.checkpoints): round trips that keep every layer setting, bad and
hostile files refused with a reason, torch.export archives refused."""

from __future__ import annotations

import contextlib
import io
import pickle
import zipfile

import pytest
import torch
from torch import nn

from explorer import nets, zoo

# --- torch.export archives -------------------------------------------------------------------------

def _exported(model, example) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(model.eval(), (example,)), buffer)
    return buffer.getvalue()


class _Trap:
    """Unpickling this creates the file at ``path``: evidence that code from the file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _with_entry(data: bytes, suffix: str, content: bytes) -> bytes:
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            target.writestr(name, content if name.endswith(suffix) else source.read(name))
    return out.getvalue()


def test_torch_export_load_runs_code_from_the_file_and_load_file_refuses_it(tmp_path):
    """The reason .pt2 is refused: torch.export.load unpickles the sample inputs without weights_only."""
    good = _exported(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)), torch.randn(1, 2))
    trap = io.BytesIO()
    torch.save((_Trap(tmp_path / "ran-in-torch"),), trap)
    hostile = _with_entry(good, "sample_inputs/model.pt", trap.getvalue())
    with contextlib.suppress(Exception):  # what matters is whether the trap fired
        torch.export.load(io.BytesIO(hostile))
    assert (tmp_path / "ran-in-torch").exists()
    trap = io.BytesIO()
    torch.save((_Trap(tmp_path / "ran-in-explorer"),), trap)
    for data in (good, _with_entry(good, "sample_inputs/model.pt", trap.getvalue())):
        with pytest.raises(zoo.CheckpointError, match=r"torch.export program \(.pt2\)"):
            zoo.load_file(data)
    assert not (tmp_path / "ran-in-explorer").exists()


def test_a_corrupt_or_inflating_pt2_is_refused():
    good = _exported(nn.Sequential(nn.Linear(2, 2)), torch.randn(1, 2))
    with pytest.raises(zoo.CheckpointError, match="Not a readable|damaged|torch.export"):
        zoo.load_file(good[: len(good) // 2])
    bomb = io.BytesIO(good)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("archive/data/weights/weight_9", "w", force_zip64=True) as entry:
        for _ in range(256):
            entry.write(bytes(2**20))
    with pytest.raises(zoo.CheckpointError, match="would unpack to 256 MB"):
        zoo.load_file(bomb.getvalue())


# --- checkpoints written by zoo.save ---------------------------------------------------------------

def test_save_and_load_round_trip_with_conv_and_batchnorm(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular"),
                          nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(27, 4))
    model[2].running_mean.uniform_(-1, 1)
    model.eval()
    path = zoo.save(model, tmp_path / "m.pt", input_shape=(36,), class_names=list("abcd"))
    loaded = zoo.load_file(path)
    x = torch.rand(5, 36)
    assert torch.equal(loaded(x), model(x))
    assert loaded.class_names == list("abcd") and loaded.input_shape == (36,)
    assert zoo.spec_of(loaded) == zoo.spec_of(model)


def _bytes_of(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class _Evil:
    def __reduce__(self):
        return (print, ("this code would run on a plain torch.load",))


def _valid_payload():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    return {"format": zoo.FORMAT, "version": 1, "layers": zoo.spec_of(model), "input_shape": [2],
            "class_names": ["a", "b"], "state_dict": model.state_dict()}


@pytest.mark.parametrize("make, message", [
    (lambda: b"not a checkpoint at all", "Not a readable torch checkpoint"),
    (lambda: _bytes_of({"weights": _Evil()}), "Refused: the file contains Python objects"),
    (lambda: pickle.dumps(_Evil()), "Not a readable|Refused"),
    (lambda: _bytes_of({"w": torch.zeros(3)}), "not a Network Explorer checkpoint"),
    (lambda: _bytes_of({**_valid_payload(), "input_shape": [5]}), "do not fit the input shape"),
    (lambda: _bytes_of({**_valid_payload(), "layers": [{"type": "linear", "in": 2, "out": 4}]}),
     "weights do not fit the architecture"),
    (lambda: _bytes_of({**_valid_payload(), "layers": [{"type": "tanh"}]}), "type 'tanh'"),
    (lambda: _bytes_of({**_valid_payload(), "class_names": ["a", "b", "c"]}), "3 class names for 2 outputs"),
])
def test_bad_files_are_refused_with_a_reason(make, message):
    with pytest.raises((zoo.CheckpointError, nets.UnsupportedLayerError), match=message):
        zoo.load_file(make())


def test_nan_weights_are_refused():
    payload = _valid_payload()
    payload["state_dict"]["0.weight"][0, 0] = float("nan")
    with pytest.raises(zoo.CheckpointError, match="NaN"):
        zoo.load_file(_bytes_of(payload))


def test_saving_an_unsupported_model_is_refused(tmp_path):
    with pytest.raises(nets.UnsupportedLayerError, match="Mish"):
        zoo.save(nn.Sequential(nn.Linear(2, 2), nn.Mish(), nn.Linear(2, 2)), tmp_path / "x.pt", input_shape=(2,))
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(zoo.CheckpointError, match="ends in a softmax; a classifier must end in an affine layer"):
        zoo.save(nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=1)), tmp_path / "x.pt", input_shape=(2,))
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("build, shape", [
    (lambda: nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16, eps=0.5), nn.ReLU(), nn.Linear(16, 3)), (4,)),
    (lambda: nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16, affine=False), nn.ReLU(), nn.Linear(16, 3)), (4,)),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2, padding=1), nn.Flatten(),
                           nn.Linear(2 * 4 * 4, 3)), (1, 8, 8)),
    (lambda: nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU()), nn.Identity(),
                           nn.Linear(8, 3)), (4,)),
])
def test_save_load_reproduces_layer_settings(tmp_path, build, shape):
    torch.manual_seed(0)
    model = build()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.2, 2)
    model.eval()
    loaded = zoo.load_file(zoo.save(model, tmp_path / "m.pt", input_shape=shape))
    x = torch.rand(6, *shape)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_a_network_ending_in_relu_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU())
    with pytest.raises(zoo.CheckpointError, match="ends in a ReLU"):
        zoo.save(model, tmp_path / "m.pt", input_shape=(2,))
