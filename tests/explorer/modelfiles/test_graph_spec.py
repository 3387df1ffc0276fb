"""Graph checkpoints: any module of supported layers round-trips through a graph spec (torch.fx).

Known answers: the loaded GraphModel computes the model's forward to 1e-12 in float64 for a
model that uses every node type; its fx trace holds only standard modules and torch functions;
hostile graph specs are refused from their declared numbers; torch.export archives are refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import operator
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer import datasets, nets, training, zoo
from explorer.data import messages
from explorer.modelfiles import checkpoints, graph_spec
from explorer.modelfiles.graph_spec import GraphModel


class EveryLayer(nn.Module):
    """Uses every node type of a graph spec, Dropout and Identity, and both functional and module forms."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.prelu = nn.PReLU(4)
        self.dilated = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, padding_mode="circular")
        self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.adaptive = nn.AdaptiveAvgPool2d((4, 4))
        self.conv1d = nn.Conv1d(4, 6, 3, padding=1, groups=2)
        self.bn1 = nn.BatchNorm1d(6)
        self.pool1d = nn.MaxPool1d(2, padding=1)
        self.avg1d = nn.AvgPool1d(2)
        self.adaptive1d = nn.AdaptiveAvgPool1d(3)
        self.fc = nn.Linear(128, 16)
        self.fc2 = nn.Linear(16 + 18, 12)
        self.bn_fc = nn.BatchNorm1d(12)
        self.out = nn.Linear(12, 3)
        self.drop, self.same, self.flat = nn.Dropout(0.3), nn.Identity(), nn.Flatten()

    def forward(self, x):
        img = x.view(x.size(0), 1, 8, 8)
        h = self.prelu(self.bn2(self.conv(img)))
        h = h + self.dilated(F.relu(h))
        both = torch.cat([nn.functional.max_pool2d(h, 2), self.adaptive(self.avg(h))], dim=1)
        flat = torch.flatten(self.drop(F.relu6(both)), 1)
        seq = x.reshape(-1, 4, 16)
        s = F.leaky_relu(self.bn1(self.conv1d(seq)), 0.2)
        s = self.flat(self.adaptive1d(self.avg1d(self.pool1d(s))))
        z = torch.cat([F.hardtanh(self.fc(flat), -0.5, 0.5), s], -1)
        z = torch.clamp(self.bn_fc(self.fc2(self.same(z))), min=-1.0)
        z = z + F.silu(F.gelu(torch.sigmoid(torch.tanh(z))))  # the smooth activations too
        return self.out(z)


def _randomised(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.2, 2)
            m.weight.data.uniform_(0.5, 1.5)
        if isinstance(m, nn.PReLU):
            m.weight.data.uniform_(-0.5, 0.5)
    return model.eval()


def test_graph_round_trip_of_every_layer_type_equals_the_forward(tmp_path):
    torch.manual_seed(0)
    model = _randomised(EveryLayer())
    loaded = zoo.load_file(zoo.save(model, tmp_path / "m.pt", input_shape=(64,), class_names=list("abc")))
    assert isinstance(loaded, GraphModel) and not loaded.training
    assert {d["type"] for d in loaded.graph_spec} == set(graph_spec.NODE_TYPES)
    x = torch.randn(32, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = model.double()(x), loaded.double()(x)
    assert (want - got).abs().max() <= 1e-12 * want.abs().max()
    assert loaded.class_names == list("abc") and loaded.input_shape == (64,)


def test_the_graph_model_traces_to_standard_modules_and_torch_functions(tmp_path):
    torch.manual_seed(0)
    loaded = zoo.load_file(zoo.save(_randomised(EveryLayer()), tmp_path / "m.pt", input_shape=(64,)))
    gm = fx.symbolic_trace(loaded)
    modules = {type(gm.get_submodule(n.target)) for n in gm.graph.nodes if n.op == "call_module"}
    functions = {n.target for n in gm.graph.nodes if n.op == "call_function"}
    assert all(cls.__module__.startswith("torch.nn.modules") for cls in modules)
    assert {nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.PReLU, nn.LeakyReLU} <= modules
    assert functions == {operator.add, torch.cat, torch.clamp}
    assert {n.op for n in gm.graph.nodes} == {"placeholder", "call_module", "call_function", "output"}


class Shared(nn.Module):
    """One Linear applied twice (tied weights), plus a skip connection: a ResNet-style reuse."""

    def __init__(self):
        super().__init__()
        self.fc, self.relu, self.head = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.relu(self.fc(self.relu(self.fc(x)))) + x)


def test_a_module_called_twice_keeps_its_weights_in_both_nodes(tmp_path):
    torch.manual_seed(0)
    model = Shared().eval()
    loaded = zoo.load_file(zoo.save(model, tmp_path / "m.pt", input_shape=(4,)))
    assert [d["type"] for d in loaded.graph_spec] == ["linear", "relu", "linear", "relu", "add", "linear"]
    x = torch.randn(10, 4)
    assert torch.equal(loaded(x), model(x))


class Softmax(nn.Module):
    def forward(self, x):
        return torch.softmax(x, 1)


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=1)), "Softmax"),
    (nn.Sequential(nn.Linear(2, 2), Softmax()), "softmax"),
    (nn.Sequential(nn.Linear(2, 2), nn.MaxPool1d(2, ceil_mode=True)), "ceil_mode"),
])
def test_unsupported_operations_are_named(tmp_path, model, message):
    with pytest.raises(nets.UnsupportedLayerError, match=message):
        zoo.save(model, tmp_path / "x.pt", input_shape=(2,))
    assert not (tmp_path / "x.pt").exists()


def test_an_operation_that_mixes_the_batch_is_refused(tmp_path):
    class Mixer(nn.Module):
        def forward(self, x):
            return x.reshape(-1)
    with pytest.raises(nets.UnsupportedLayerError, match="batch axis 0"):
        zoo.save(nn.Sequential(nn.Linear(2, 2), Mixer()), tmp_path / "x.pt", input_shape=(2,))


# --- hostile graph specs: refused from the numbers they declare ------------------------------------

def _graph_file(graph, input_shape, state) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": zoo.FORMAT, "version": 2, "graph": graph, "input_shape": input_shape,
                "class_names": [], "state_dict": state}, buffer)
    return buffer.getvalue()


def _conv(name, c_in, c_out, k, source="input", **extra):
    return {"name": name, "type": "conv2d", "in": c_in, "out": c_out, "kernel": [k, k], "stride": [1, 1],
            "padding": [0, 0], "dilation": [1, 1], "groups": 1, "padding_mode": "zeros", "bias": True,
            "inputs": [source], **extra}


def _head(source, n_in):
    return [{"name": "flat", "type": "flatten", "inputs": [source]},
            {"name": "fc", "type": "linear", "in": n_in, "out": 2, "bias": True, "inputs": ["flat"]}]


HOSTILE_GRAPHS = {
    "negative channel count": (lambda: _graph_file([_conv("c", 1, -4, 3), *_head("c", 4)], [1, 8, 8],
                                                   {"w": torch.zeros(3)}),
                               r"Node 0 \('c', conv2d\): out must be an integer >= 1; the file says -4"),
    "huge conv": (lambda: _graph_file([_conv("c", 64, 4096, 64), *_head("c", 4096)], [64, 64, 64],
                                      {"w": torch.zeros(3)}),
                  r"nodes up to Node 0 \('c', conv2d\) declare 1,073,745,920 weights; the limit"),
    "unknown input name": (lambda: _graph_file([_conv("c", 1, 2, 3, source="x"), *_head("c", 72)], [1, 8, 8],
                                               {"w": torch.zeros(200)}),
                           r"Node 0 \('c', conv2d\) reads 'x', which is not 'input' nor an earlier node"),
    "input from a later node": (lambda: _graph_file([_conv("c", 1, 2, 3, source="flat"), *_head("c", 72)],
                                                    [1, 8, 8], {"w": torch.zeros(200)}), "not 'input' nor an earlier"),
    "add of two shapes": (lambda: _graph_file([_conv("c", 1, 2, 3), {"name": "s", "type": "add",
                                                                     "inputs": ["c", "input"]}, *_head("s", 72)],
                                              [1, 8, 8], {"w": torch.zeros(200)}), "adds two or more inputs of one"),
    "huge activation": (lambda: _graph_file([_conv("c", 1, 64, 1), *_head("c", 64_000_000)], [1, 1000, 1000],
                                            {"w": torch.zeros(200)}), "outputs 64,000,000 values per sample"),
    "unknown type": (lambda: _graph_file([{"name": "t", "type": "softmax", "inputs": ["input"]}], [2], {}),
                     "type 'softmax' is not supported"),
    "duplicate name": (lambda: _graph_file([_conv("c", 1, 2, 3), _conv("c", 2, 2, 3, source="c")], [1, 8, 8],
                                           {"w": torch.zeros(200)}), "the name must be a new identifier"),
    "name of 300,000 characters": (lambda: _graph_file([_conv("n" * 300_000, 1, 2, 3), *_head("c", 72)], [1, 8, 8],
                                                       {"w": torch.zeros(200)}),
                                   r"Node 0 \('nnnn*…', conv2d\): the name must be a new identifier"),
    "type of 300,000 characters": (lambda: _graph_file([{"name": "t", "type": "t" * 300_000, "inputs": ["input"]}],
                                                       [2], {}), r"Node 0 \('t', tttt*…\): type 'tttt*…' is not"),
    "4,097 nodes": (lambda: _graph_file([_conv("c", 1, 2, 3)] * 4097, [1, 8, 8], {}),
                    "The graph has 4,097 nodes; the limit is 4,096"),
    "an add of 100,000 inputs": (lambda: _graph_file([{"name": "s", "type": "add", "inputs": ["input"] * 100_000}],
                                                     [2], {}),
                                 r"Node 0 \('s', add\): inputs must be a list of 1 to 256 node names; the file "
                                 r"says \['input', 'input', "),
    "a reshape to 100,000 sizes": (lambda: _graph_file([{"name": "r", "type": "reshape", "shape": [1] * 100_000,
                                                         "inputs": ["input"]}], [2], {}),
                                   r"shape must list 1 to 3 sizes; the file says \[1, 1, 1, 1, 1, 1, \.\.\.\]"),
}


@pytest.mark.parametrize("case", HOSTILE_GRAPHS)
def test_hostile_graph_specs_are_refused_with_the_node_named(case, monkeypatch):
    """Each is refused naming the node, in a bounded message, before any module is built."""
    make, message = HOSTILE_GRAPHS[case]
    monkeypatch.setattr(checkpoints, "GraphModel", lambda *args, **kwargs: pytest.fail("a model was built"))
    with pytest.raises((zoo.CheckpointError, nets.UnsupportedLayerError), match=message) as refusal:
        zoo.load_file(make())
    assert len(str(refusal.value)) <= messages.MAX_MESSAGE_CHARS


def test_graph_refusals_allocate_almost_nothing(tmp_path):
    """Peak memory of loading every hostile graph file, in a fresh interpreter: under 150 MB over the baseline."""
    files = []
    for i, (make, _) in enumerate(HOSTILE_GRAPHS.values()):
        files.append(tmp_path / f"hostile-{i}.pt")
        files[-1].write_bytes(make())
    code = textwrap.dedent("""
        import resource, sys
        from explorer import nets, zoo
        zoo.load_file(zoo.DATA_DIR / zoo.card("digits-resnet")["file"])  # warm up the loader's imports
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for path in sys.argv[1:]:
            try:
                zoo.load_file(path)
            except (zoo.CheckpointError, nets.UnsupportedLayerError):
                pass
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, check=True)
    assert float(out.stdout.decode().strip().splitlines()[-1]) < 150


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


# --- the zoo's graph entries -----------------------------------------------------------------------

GRAPH_ENTRIES = {"digits-resnet": "add", "digits-lenet": "maxpool2d", "moons-leaky": "leakyrelu"}


@pytest.mark.parametrize("name", GRAPH_ENTRIES)
def test_graph_zoo_entries_load_and_match_their_cards(name):
    card = zoo.card(name)
    path = zoo.DATA_DIR / card["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"]
    assert path.stat().st_size < 200_000
    model = zoo.load(name)
    assert isinstance(model, GraphModel) and card["layers"] == model.graph_spec
    assert GRAPH_ENTRIES[name] in {d["type"] for d in model.graph_spec}
    data = datasets.load(card["dataset"])
    assert training.accuracy(model, data.X_test, data.y_test) == pytest.approx(card["test_accuracy"], abs=5e-5)
    assert card["test_accuracy"] >= (0.95 if card["dataset"] == "digits" else 0.97)


def test_digits_resnet_has_two_residual_additions():
    spec = zoo.load("digits-resnet").graph_spec
    adds = [d for d in spec if d["type"] == "add"]
    assert len(adds) == 2
    names = [d["name"] for d in spec]
    for add in adds:  # x + conv(relu(conv(x))): the skip input comes before the two convs it bypasses
        skip, _ = sorted(add["inputs"], key=names.index)
        between = [d["type"] for d in spec[names.index(skip) + 1: names.index(add["name"])]]
        assert between == ["conv2d", "relu", "conv2d"]
