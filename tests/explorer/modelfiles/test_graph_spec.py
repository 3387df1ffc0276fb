"""Graph checkpoints (explorer.modelfiles.graph_spec): any module of supported layers round-trips through
a graph spec (torch.fx).

Known answers: the loaded GraphModel computes the model's forward to 1e-12 in float64 for a
model that uses every node type; its fx trace holds only standard modules and torch functions.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer import zoo
from explorer.modelfiles import graph_spec
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
        self.softmax, self.log_softmax = nn.Softmax(dim=1), nn.LogSoftmax(dim=-1)

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
        z = z + self.softmax(z) + self.log_softmax(z.view(-1, 3, 4)).flatten(1)
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
