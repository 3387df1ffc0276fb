"""ONNX files (explorer/modelfiles/onnx_files.py): a network exported from torch loads as the same network.

Known answers: the ONNX files are written by ``torch.onnx.export`` from float64 torch models (the
TorchScript exporter, and the default dynamo exporter where onnxscript is installed), so the loaded
model must compute the original's outputs to rounding (1e-12), and every analysis must find what it
finds on the original: the same exact linear regions (count and activation patterns), the same
singular values, the same DeepFool perturbations. Hand-built files (``onnx.helper``) check each
operation against its definition computed in numpy. Hostile files are refused naming the limit,
the operation or the domain, before any large allocation (measured with tracemalloc).
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from explorer import attacks, nets, regions, spectra, zoo
from explorer.data.messages import MAX_MESSAGE_CHARS
from explorer.modelfiles import checkpoints, onnx_files
from explorer.modelfiles.declared_sizes import MAX_ACTIVATION_ENTRIES, MAX_NODES
from explorer.modelfiles.graph_spec import GraphModel

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

EXPORTERS = ["torchscript", "dynamo"]


def exported(model: nn.Module, input_shape: tuple, exporter: str = "torchscript") -> bytes:
    """``torch.onnx.export`` of the float64 model, with a dynamic batch axis. The TorchScript exporter
    runs without constant folding, so BatchNormalization stays a node of its own."""
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    buffer, x = io.BytesIO(), torch.rand(2, *input_shape, dtype=torch.float64)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            torch.onnx.export(model, (x,), buffer, input_names=["x"], dynamo=True,
                              dynamic_shapes=({0: torch.export.Dim("batch")},))
        else:
            torch.onnx.export(model, (x,), buffer, input_names=["x"], dynamo=False, do_constant_folding=False,
                              dynamic_axes={"x": {0: "batch"}})
    return buffer.getvalue()


class ResidualCNN(nn.Module):
    """conv, BatchNorm, ReLU, a residual add, 2 x 2 max pooling, flatten and a linear head."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.pool, self.head = nn.MaxPool2d(2), nn.Linear(3 * 3 * 3, 4)

    def forward(self, x):
        h = torch.relu(self.bn(self.stem(x)))
        h = h + torch.relu(self.conv(h))
        return self.head(torch.flatten(self.pool(h), 1))


def seeded(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    model = model.double().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics that are not the identity
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0), m.weight.uniform_(0.5, 1.5)
    return model


def mlp():
    torch.manual_seed(0)
    return seeded(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)))


def same_outputs(loaded, model, input_shape):
    x = torch.randn(32, *input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(copy.deepcopy(loaded).double()(x), model(x), rtol=1e-12, atol=1e-12)


def same_partition(got, want):
    assert len(got.patterns) == len(want.patterns) and got.num_linear_regions == want.num_linear_regions
    assert sorted(map(bytes, np.asarray(got.patterns))) == sorted(map(bytes, np.asarray(want.patterns)))
    np.testing.assert_allclose(np.sort(got.areas), np.sort(want.areas), rtol=1e-9, atol=1e-12)


def same_spectra(loaded, model, input_shape):
    got = spectra.model_spectra(loaded, input_shape=input_shape)
    want = spectra.model_spectra(model, input_shape=input_shape)
    assert len(got) == len(want) == sum(isinstance(m, (nn.Linear, nn.Conv2d)) for m in model.modules())
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.sort(a.values), np.sort(b.values), rtol=1e-10, atol=1e-12)


def same_deepfool(loaded, model, x):
    got, want = attacks.deepfool(loaded, x), attacks.deepfool(model, x)
    assert want.success.any()
    np.testing.assert_array_equal(got.success, want.success)
    np.testing.assert_array_equal(got.adversarial, want.adversarial)
    np.testing.assert_allclose(got.r, want.r, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_an_exported_mlp_is_the_same_network_for_every_analysis(exporter):
    model = mlp()
    loaded = zoo.load_file(exported(model, (2,), exporter))
    assert isinstance(loaded, GraphModel) and loaded.input_shape == (2,) and loaded.class_names == ["0", "1", "2"]
    assert [d["type"] for d in loaded.graph_spec] == ["linear", "relu", "linear", "relu", "linear"]
    same_outputs(loaded, model, (2,))
    same_partition(regions.partition_2d(loaded, (-2, 2, -2, 2)), regions.partition_2d(model, (-2, 2, -2, 2)))
    same_spectra(loaded, model, (2,))
    same_deepfool(loaded, model, np.random.default_rng(0).normal(size=(6, 2)))


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_an_exported_residual_cnn_is_the_same_network_for_every_analysis(exporter):
    model = seeded(ResidualCNN())
    loaded = zoo.load_file(exported(model, (1, 6, 6), exporter))
    types = [d["type"] for d in loaded.graph_spec]
    assert {"conv2d", "relu", "add", "maxpool2d", "flatten", "linear"} <= set(types)
    assert ("batchnorm2d" in types) == (exporter == "torchscript")  # the dynamo exporter folds it into the conv
    same_outputs(loaded, model, (1, 6, 6))
    rng = np.random.default_rng(0)
    origin, directions = rng.normal(size=36), rng.normal(size=(2, 36))
    square = 0.15 * np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    got = regions.partition_plane(nets.canonical(loaded), origin, directions, square)
    want = regions.partition_plane(nets.canonical(model, (1, 6, 6)), origin, directions, square)
    assert len(want.patterns) > 10
    same_partition(got, want)
    same_spectra(loaded, model, (1, 6, 6))
    same_deepfool(loaded, model, rng.normal(size=(4, 1, 6, 6)))


class ViewFlattenCNN(nn.Module):
    """Flattens as much PyTorch code does, by sizes read off the tensor: ``x.view(x.size(0), -1)`` (the
    TorchScript exporter writes Shape, Gather, Unsqueeze, Concat and Reshape for it)."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(1, 2, 3), nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = h.reshape(h.size(0), h.size(1), -1)  # (batch, channels, 16): a Gather of a size after the batch
        return self.head(h.view(h.size(0), -1))


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_a_flatten_by_the_tensors_own_sizes_is_read_as_a_flatten(exporter):
    model = seeded(ViewFlattenCNN())
    data = exported(model, (1, 6, 6), exporter)
    loaded = zoo.load_file(data)
    types = [d["type"] for d in loaded.graph_spec]  # the dynamo exporter joins the two reshapes into one
    assert types[:2] == ["conv2d", "relu"] and types[-2:] == ["flatten", "linear"] and set(types[2:-2]) <= {"reshape"}
    same_outputs(loaded, model, (1, 6, 6))
    same_deepfool(loaded, model, np.random.default_rng(0).normal(size=(4, 1, 6, 6)))


def test_shape_arithmetic_on_the_networks_data_or_moving_the_batch_axis_is_refused_naming_the_node():
    on_data = model_bytes([helper.make_node("Gather", ["x", "i"], ["y"], name="the_node", axis=1)],
                          [value("x", ["n", 3])], [value("y", None)], [numpy_helper.from_array(np.array(0), "i")])
    with pytest.raises(nets.UnsupportedLayerError, match="'the_node'.*works on the network's data"):
        zoo.load_file(on_data)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["b"]), helper.make_node("Unsqueeze", ["b", "axes"], ["b1"]),
             helper.make_node("Concat", ["minus", "b1"], ["t"], axis=0),
             helper.make_node("Reshape", ["x", "t"], ["y"], name="the_node")]
    batch_second = model_bytes(nodes, [value("x", ["n", 4])], [value("y", None)],
                               [numpy_helper.from_array(np.array(0, np.int64), "zero"),
                                numpy_helper.from_array(np.array([0], np.int64), "axes"),
                                numpy_helper.from_array(np.array([-1], np.int64), "minus")])
    with pytest.raises(nets.UnsupportedLayerError, match="'the_node'.*batch size after the first axis"):
        zoo.load_file(batch_second)


def test_a_tanh_network_gets_spectra_and_deepfool_and_the_exact_analyses_name_its_node():
    torch.manual_seed(0)
    model = seeded(nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3)))
    data = exported(model, (2,))
    tanh_node = next(n for n in onnx.load_from_string(data).graph.node if n.op_type == "Tanh")
    loaded = zoo.load_file(data)
    same_outputs(loaded, model, (2,))
    same_spectra(loaded, model, (2,))
    same_deepfool(loaded, model, np.random.default_rng(0).normal(size=(6, 2)))
    name = re.sub(r"[^A-Za-z0-9_]", "_", tanh_node.name)  # the spec node is named after the ONNX node
    for exact in (lambda: regions.partition_2d(loaded), lambda: nets.canonical(loaded)):
        with pytest.raises(nets.NotPiecewiseLinearError, match=f"'layers.{name}' \\(Tanh\\) is not piecewise linear"):
            exact()


# -- hand-built files: each operation against its definition ----------------------------------------

def model_bytes(nodes, inputs, outputs, initializers=(), **model_fields) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, **model_fields).SerializeToString()


def value(name, shape, elem=TensorProto.DOUBLE):
    return helper.make_tensor_value_info(name, elem, shape)


def const(array, name):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float64), name)


def test_every_supported_operation_computes_its_definition():
    """A graph of every operation (on (2, 4, 4) images); the reference is numpy on the definitions."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 2, 3, 3))
    scale, shift, slope = rng.normal(size=(2, 1, 1)), rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(2, 1, 1))
    dense, bias, entry = rng.normal(size=(16, 5)), rng.normal(size=5), rng.normal(size=5)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Mul", ["c", "scale"], ["m"]),          # per channel: a depthwise 1 x 1 conv
        helper.make_node("Add", ["shift", "m"], ["a"]),          # per entry: one weight per value
        helper.make_node("PRelu", ["a", "slope"], ["p"]),
        helper.make_node("Clip", ["p", "lo", "hi"], ["k"]),
        helper.make_node("AveragePool", ["k"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Identity", ["ap"], ["i"]),
        helper.make_node("Dropout", ["i"], ["d"]),
        helper.make_node("Transpose", ["d"], ["t"], perm=[0, 1, 2, 3]),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
        helper.make_node("Reshape", ["t", "shape"], ["flat"]),   # (2, 2, 2) -> 8
        helper.make_node("LeakyRelu", ["flat"], ["lr"], alpha=0.2),
        helper.make_node("Sub", ["flat", "lr"], ["diff"]),       # tensor - tensor
        helper.make_node("Concat", ["diff", "lr"], ["cat"], axis=1),
        helper.make_node("MatMul", ["cat", "dense"], ["mm"]),
        helper.make_node("Add", ["mm", "bias"], ["lin"]),        # MatMul + Add: one Linear
        helper.make_node("Div", ["lin", "two"], ["half"]),
        helper.make_node("Sub", ["entry", "half"], ["y"]),       # constant - tensor
        helper.make_node("Softmax", ["y"], ["prob"], axis=-1),   # the last operation: left out
    ]
    inits = [const(w, "w"), const(scale, "scale"), const(shift, "shift"), const(slope, "slope"), const(-0.5, "lo"),
             const(1.5, "hi"), const(dense, "dense"), const(bias, "bias"), const(2.0, "two"), const(entry, "entry")]
    data = model_bytes(nodes, [value("x", ["n", 2, 4, 4])], [value("prob", ["n", 5])], inits)
    loaded = zoo.load_file(data)
    types = [d["type"] for d in loaded.graph_spec]
    linear = loaded.graph_spec[types.index("linear")]["name"]
    assert types.count("linear") == 1 and loaded.state_dict()[f"layers.{linear}.bias"].shape == (5,)

    x = rng.normal(size=(3, 2, 4, 4))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    c = np.einsum("nihwkl,oikl->nohw", np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3)), w)
    a = c * scale + shift
    p = np.clip(np.where(a > 0, a, slope * a), -0.5, 1.5)
    ap = p.reshape(3, 2, 2, 2, 2, 2).mean(axis=(3, 5))
    flat = ap.reshape(3, 8)
    lr = np.where(flat > 0, flat, 0.2 * flat)
    want = entry - (np.concatenate([flat - lr, lr], axis=1) @ dense + bias) / 2.0
    with torch.no_grad():
        got = loaded(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_gemm_settings_and_global_pooling_and_a_float32_file():
    rng = np.random.default_rng(1)
    b, c = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(1, 4)).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "b", "c"], ["y"], alpha=0.5, beta=2.0)]
    inits = [numpy_helper.from_array(b, "b"), numpy_helper.from_array(c, "c")]
    loaded = zoo.load_file(model_bytes(nodes, [value("x", [1, 3, 5, 5], TensorProto.FLOAT)],
                                       [value("y", [1, 4], TensorProto.FLOAT)], inits))
    assert next(loaded.parameters()).dtype == torch.float32  # the file's precision; .double() for float64
    x = rng.normal(size=(2, 3, 5, 5))
    want = 0.5 * x.mean(axis=(2, 3)) @ b.astype(np.float64) + 2.0 * c.astype(np.float64)
    with torch.no_grad():
        got = loaded.double()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_onnx_is_told_by_its_content_and_load_file_reads_it_from_a_path(tmp_path):
    data = exported(mlp(), (2,))
    assert onnx_files.is_onnx(data) and not onnx_files.is_onnx(zoo.save(mlp(), tmp_path / "m.pt", (2,)).read_bytes())
    path = tmp_path / "model.pt"  # the name says checkpoint; the content says ONNX
    path.write_bytes(data)
    same_outputs(zoo.load_file(path), mlp(), (2,))
    assert onnx_files.FORMAT == checkpoints.FORMAT


# -- hostile files ----------------------------------------------------------------------------------

def relu_model(initializers=(), **fields) -> bytes:
    return model_bytes([helper.make_node("Relu", ["x"], ["y"])], [value("x", ["n", 3])], [value("y", ["n", 3])],
                       initializers, **fields)


def huge(dims, name="w") -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.raw_data = b"\x00" * 16
    return tensor


@pytest.mark.parametrize("dims, words", [
    ([10**12], f"no size may pass {MAX_ACTIVATION_ENTRIES:,}"),
    ([4096, 4096], "declares 16,777,216 values of float32 (67,108,864 bytes) and holds 16 bytes"),
    ([2**22, 2**4], "the limit is 33,554,432"),
])
def test_a_huge_declared_initializer_is_refused_before_allocation(dims, words):
    data = relu_model([huge(dims)])
    tracemalloc.start()
    try:
        with pytest.raises(zoo.CheckpointError, match=re.escape(words)):
            zoo.load_file(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # the declared values are never made (4096 x 4096 float32 alone is 64 MB)


def test_external_data_is_refused_and_no_file_is_read(tmp_path, monkeypatch):
    secret = tmp_path / "weights.bin"
    secret.write_bytes(np.ones(3, np.float32).tobytes())
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3], data_location=TensorProto.EXTERNAL)
    for key, text in (("location", str(secret)), ("offset", "0"), ("length", "12")):
        tensor.external_data.add(key=key, value=text)
    opened = []
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or (_ for _ in ()).throw(OSError))
    with pytest.raises(zoo.CheckpointError, match="external data"):
        zoo.load_file(relu_model([tensor]))
    assert opened == []


def test_unknown_operations_custom_domains_and_functions_are_refused_by_name():
    erf = model_bytes([helper.make_node("Erf", ["x"], ["y"], name="my_erf")], [value("x", ["n", 3])],
                      [value("y", ["n", 3])])
    with pytest.raises(nets.UnsupportedLayerError, match="'my_erf', Erf.*operation 'Erf' is not supported"):
        zoo.load_file(erf)
    custom = model_bytes([helper.make_node("Relu", ["x"], ["y"], domain="com.evil")], [value("x", ["n", 3])],
                         [value("y", ["n", 3])], opset_imports=[helper.make_opsetid("", 17),
                                                                helper.make_opsetid("com.evil", 1)])
    with pytest.raises(nets.UnsupportedLayerError, match="domain 'com.evil'"):
        zoo.load_file(custom)
    function = helper.make_function("com.evil", "Twice", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                                    [helper.make_opsetid("", 17)])
    with pytest.raises(zoo.CheckpointError, match="defines 1 functions"):
        zoo.load_file(relu_model(functions=[function]))


def test_too_many_nodes_are_refused_before_any_is_read():
    nodes = [helper.make_node("Identity", [f"v{k}"], [f"v{k + 1}"]) for k in range(MAX_NODES + 1)]
    data = model_bytes(nodes, [value("v0", ["n", 3])], [value(f"v{MAX_NODES + 1}", ["n", 3])])
    with pytest.raises(zoo.CheckpointError, match=f"{MAX_NODES + 1:,} nodes; the limit is {MAX_NODES:,}"):
        zoo.load_file(data)


def test_truncated_and_garbage_files_are_refused_in_words():
    data = exported(mlp(), (2,))
    with pytest.raises(zoo.CheckpointError, match="Not a readable ONNX model: the file is truncated or damaged"):
        zoo.load_file(data[: len(data) // 2])
    with pytest.raises(zoo.CheckpointError, match="Not a readable ONNX model"):
        zoo.load_file(b"\x08\x07" + bytes(np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8)))
    with pytest.raises(zoo.CheckpointError, match="not one"):  # neither ONNX nor a zip archive
        zoo.load_file(b"\x00garbage")


def test_messages_are_bounded_whatever_the_file_names():
    name = "n" * 100_000
    data = model_bytes([helper.make_node("Erf", ["x"], [name], name=name)], [value("x", ["n", 3])],
                       [value(name, ["n", 3])])
    with pytest.raises(nets.UnsupportedLayerError) as refused:
        zoo.load_file(data)
    assert len(str(refused.value)) <= MAX_MESSAGE_CHARS and "…" in str(refused.value)
    gemm = model_bytes([helper.make_node("Gemm", ["x", name], ["y"])], [value("x", ["n", 3])], [value("y", ["n", 3])])
    with pytest.raises(nets.UnsupportedLayerError) as refused:  # B is not a constant: its name is quoted, cut
        zoo.load_file(gemm)
    assert len(str(refused.value)) <= MAX_MESSAGE_CHARS and "…" in str(refused.value)


def test_a_transpose_of_axes_of_size_one_is_a_reshape():
    w = np.random.default_rng(2).normal(size=(3, 4))
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]), helper.make_node("Flatten", ["t"], ["f"]),
             helper.make_node("Gemm", ["f", "w"], ["y"], transB=1)]
    loaded = zoo.load_file(model_bytes(nodes, [value("x", ["n", 1, 4])], [value("y", ["n", 3])], [const(w, "w")]))
    x = np.random.default_rng(3).normal(size=(5, 1, 4))
    with torch.no_grad():
        np.testing.assert_allclose(loaded(torch.from_numpy(x)).numpy(), x[:, 0] @ w.T, rtol=1e-12, atol=1e-12)


def test_a_softmax_inside_the_network_is_a_smooth_node_and_the_exact_analyses_name_it():
    """Attention-like: a softmax over the channels of a (2, 3) sample, then a linear head (no final softmax)."""
    w = np.random.default_rng(4).normal(size=(6, 2))
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="attend", axis=1),
             helper.make_node("Flatten", ["s"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["y"])]
    loaded = zoo.load_file(model_bytes(nodes, [value("x", ["n", 2, 3])], [value("y", ["n", 2])], [const(w, "w")]))
    assert [d["type"] for d in loaded.graph_spec] == ["softmax", "flatten", "linear"]
    x = np.random.default_rng(5).normal(size=(7, 2, 3))
    expected = (np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)).reshape(7, 6) @ w
    with torch.no_grad():
        np.testing.assert_allclose(loaded(torch.from_numpy(x)).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert len(spectra.model_spectra(loaded)) == 1
    with pytest.raises(nets.UnsupportedLayerError, match="attend.*not piecewise linear"):
        nets.canonical(loaded)


def one_node(op, x_shape, inputs=("x",), initializers=(), **attrs) -> bytes:
    return model_bytes([helper.make_node(op, list(inputs), ["y"], name="the_node", **attrs)],
                       [value("x", ["n", *x_shape])], [value("y", None)], initializers)


@pytest.mark.parametrize("data, words", [
    (one_node("Transpose", (2, 3), perm=[0, 2, 1]), "Transpose with perm [0, 2, 1] reorders the entries"),
    (one_node("Reshape", (8,), ("x", "s"), [numpy_helper.from_array(np.array([-1, 2], np.int64), "s")]),
     "would move values between the samples"),
    (one_node("Flatten", (2, 3), axis=0), "only Flatten with axis 1"),
    (one_node("Mul", (3,), ("x", "x")), "multiplies two computed tensors"),
    (one_node("Gemm", (3,), ("x", "x")), "needs 'x' to be a constant"),
    (one_node("Conv", (1, 4, 4), ("x", "w"), [const(np.ones((1, 1, 2, 2)), "w")], pads=[0, 0, 1, 1]),
     "pads [0, 0, 1, 1] are not the same at both ends"),
    (one_node("MaxPool", (1, 4, 4), kernel_shape=[2, 2], ceil_mode=1), "ceil_mode=1 is not supported"),
    (model_bytes([helper.make_node("Softmax", ["x"], ["s"], name="the_node", axis=0),
                  helper.make_node("Relu", ["s"], ["y"])], [value("x", ["n", 3])], [value("y", ["n", 3])]),
     "Softmax over the batch axis mixes the samples"),
])
def test_operations_outside_the_supported_settings_are_refused_naming_the_node(data, words):
    with pytest.raises(nets.UnsupportedLayerError, match=re.escape(words)) as refused:
        zoo.load_file(data)
    assert "'the_node'" in str(refused.value)
