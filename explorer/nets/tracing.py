"""Read any piecewise-linear ``nn.Module`` into a :class:`~explorer.nets.graph.PLGraph` with torch.fx.

The module is traced (``torch.fx.symbolic_trace``, or the graph of a ``torch.export`` program)
and its graph run once on *points* instead of data: every value that is affine in the
network's sources (the input, the outputs of the piecewise-linear layers so far) is held as
its values at ``0`` and at every basis vector of those sources, stacked along the batch
dimension. An affine operation run on that batch gives the points of its result, so Linear,
Conv1d/2d (any padding, stride, dilation, groups), BatchNorm (eval), average pools, reshapes,
slicing, ``+``, ``-``, ``torch.cat`` and scaling by constants need no rule of their own; their
weight matrices are read off as ``points[1:] - points[0]``. A ReLU-family activation or a
MaxPool starts a new layer of the graph. Anything else is refused by name, and a result that
changed the batch dimension (an operation that mixes samples) is refused too. The graph read
is checked against the module's own forward pass before it is returned.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

from .fx_trace import symbolic_trace
from .graph import Layer, Pieces, PLGraph
from .ops import MAX_DENSE_ENTRIES, OperatorTooLargeError, UnsupportedLayerError


class NotPiecewiseLinearError(UnsupportedLayerError):
    """A layer that is not piecewise linear (Tanh, GELU, LayerNorm, ...)."""


_AFFINE_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool1d,
                   nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Unflatten,
                   nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity, nn.ZeroPad2d, nn.ConstantPad1d,
                   nn.ConstantPad2d, nn.CircularPad1d, nn.CircularPad2d)
_NOT_PL_MODULES = (nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.ELU, nn.SELU, nn.CELU, nn.Softplus, nn.Mish,
                   nn.Hardswish, nn.Hardsigmoid, nn.Softmax, nn.LogSoftmax, nn.LayerNorm, nn.GroupNorm,
                   nn.InstanceNorm1d, nn.InstanceNorm2d, nn.MultiheadAttention, nn.Tanhshrink, nn.LogSigmoid)
# functions, methods and aten ops (by their base name) that are affine in their tensor arguments
_AFFINE_NAMES = {
    "add", "add_", "iadd", "sub", "sub_", "isub", "neg", "mul", "mul_", "imul", "truediv", "div", "div_",
    "cat", "concat", "concatenate", "flatten", "reshape", "view", "_unsafe_view", "permute", "transpose",
    "squeeze", "unsqueeze", "contiguous", "clone", "alias", "mean", "sum", "linear", "conv1d", "conv2d",
    "convolution", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "_adaptive_avg_pool2d", "pad", "constant_pad_nd", "dropout", "feature_dropout", "batch_norm",
    "_native_batch_norm_legit_no_training", "getitem", "matmul", "mm", "addmm", "expand_as", "unflatten",
    "float", "double", "to", "_to_copy", "type_as", "detach", "identity", "split", "chunk", "narrow",
    "slice", "select", "split_with_sizes", "view_as", "reshape_as", "expand",
}
_SHAPE_NAMES = {"size", "dim", "numel", "getattr", "sym_size"}
# products: at most one factor may depend on the input; for these, only the first one
_PRODUCT_NAMES = {"mul", "mul_", "imul", "truediv", "div", "div_", "matmul", "mm", "addmm"}
_LEFT_FACTOR_NAMES = {"truediv", "div", "div_", "matmul", "mm"}
_NOT_PL_NAMES = {"tanh", "sigmoid", "gelu", "silu", "elu", "selu", "celu", "softplus", "mish", "hardswish",
                 "hardsigmoid", "softmax", "log_softmax", "_softmax", "layer_norm", "group_norm", "exp",
                 "log", "sqrt", "rsqrt", "pow", "abs", "sin", "cos", "instance_norm", "normalize", "erf",
                 "norm", "vector_norm", "linalg_vector_norm"}


def _base_name(target) -> str:
    """The plain name of an fx target: 'relu' for F.relu, torch.relu, aten.relu.default, 'relu'."""
    if isinstance(target, str):
        return target
    name = getattr(target, "__name__", str(target))
    if isinstance(target, torch._ops.OpOverload):
        name = target._schema.name.split("::")[-1]
    return name.split(".")[0]


class _Affine:
    """A value affine in some sources: its points at 0 and at each source's basis vectors.

    ``sources`` lists (source index, size) in row order; ``points`` is (1 + sum sizes, *shape).
    """

    def __init__(self, sources: list, points: torch.Tensor):
        self.sources, self.points = sources, points

    @property
    def rows(self) -> int:
        return self.points.shape[0]

    def aligned(self, sources: list) -> torch.Tensor:
        """The points over a larger list of sources (a missing source leaves the value at its point 0)."""
        have = {j: start for j, start, _ in _starts(self.sources)}
        index = [0]
        for j, size in sources:
            index += list(range(have[j], have[j] + size)) if j in have else [0] * size
        return self.points[index] if index != list(range(self.rows)) else self.points

    def matrices(self):
        """(sources {j: W_j (numel, size_j)}, bias (numel,)) as float64 numpy arrays."""
        flat = self.points.reshape(self.rows, -1)
        base = flat[0]
        out = {j: (flat[start:start + size] - base).T.numpy().copy() for j, start, size in _starts(self.sources)}
        return out, base.numpy().copy()


def _starts(sources: list):
    """(source, first row, size) of each source's rows in a points tensor (row 0 is the point 0)."""
    start = 1
    for j, size in sources:
        yield j, start, size
        start += size


class _Reader:
    """Runs an fx graph on points and collects the layers of the PLGraph (see the module docstring)."""

    def __init__(self, module: fx.GraphModule, input_shape: tuple):
        self.module, self.input_shape = module, input_shape
        self.layers: list = []
        self.names: list = []

    def read(self) -> PLGraph:
        n_in = math.prod(self.input_shape)
        env = {}
        output = None
        inputs = [node for node in self.module.graph.nodes if node.op == "placeholder"]
        if len(inputs) != 1:
            raise UnsupportedLayerError("The model must take exactly one input tensor.")
        for node in self.module.graph.nodes:
            if node.op not in ("placeholder", "output") and not node.users:
                continue  # a result nobody reads (an exported program's input guards)
            if node.op == "placeholder":
                env[node] = _Affine([(0, n_in)], _basis_points(n_in, self.input_shape))
            elif node.op == "get_attr":
                env[node] = _fetch_attr(self.module, node.target)
            elif node.op == "output":
                output = fx.node.map_arg(node.args[0], lambda n: env[n])
            else:
                env[node] = self._run(node, fx.node.map_arg(node.args, lambda n: env[n]),
                                      fx.node.map_arg(node.kwargs, lambda n: env[n]))
        if isinstance(output, (tuple, list)) and len(output) == 1:
            output = output[0]
        if not isinstance(output, _Affine):
            raise UnsupportedLayerError("The model's output must be one tensor that depends on its input.")
        sources, bias = output.matrices()
        return PLGraph(n_in, self.layers, sources, bias, self.names)

    def _run(self, node: fx.Node, args, kwargs):
        where = f"(node '{node.name}')"
        if node.op == "call_module":
            module = self.module.get_submodule(node.target)
            where = f"'{node.target}' ({type(module).__name__})"
            if isinstance(module, _NOT_PL_MODULES):
                raise _not_pl(where)
            layer = _activation_of_module(module)
            if layer is not None:
                return self._new_layer(node.target, _only_affine(args, where), *layer)
            if not isinstance(module, _AFFINE_MODULES):
                raise UnsupportedLayerError(f"Layer {where} is not supported: it is not one of the "
                                            "affine or piecewise-linear layers the graph reader knows.")
            return self._affine_call(module.eval(), args, kwargs, where)
        name = _base_name(node.target)
        where = f"'{name}' (node '{node.name}'{_inside(node)})"
        has_affine = any(isinstance(a, _Affine) for a in _flat(args, kwargs))
        function = node.target if node.op == "call_function" else _method(node.target)
        if not has_affine:
            return function(*args, **kwargs)
        if name in _SHAPE_NAMES:
            return _shape_query(function(*_as_tensors(args), **_as_tensors(kwargs)), args, kwargs)
        if name in _NOT_PL_NAMES:
            raise _not_pl(where)
        activation = _activation_of_call(name, args, kwargs)
        if activation is not None:
            kind, params = activation
            x = _only_affine(args, where)
            layer = self._new_layer(node.name, x, kind, params)
            return (layer, None) if name.endswith("with_indices") else layer
        if name not in _AFFINE_NAMES:
            raise UnsupportedLayerError(f"Operation {where} is not supported (not affine or piecewise linear).")
        if name in _PRODUCT_NAMES and not _one_factor(name, args):
            raise NotPiecewiseLinearError(f"Operation {where} multiplies input-dependent values (or divides "
                                          "by one): that is not piecewise linear, so the exact analyses do not "
                                          "apply to this model; spectra and attacks still do.")
        if name in ("float", "double", "to", "_to_copy", "type_as", "detach"):
            return args[0]
        return self._affine_call(function, args, kwargs, where)

    def _affine_call(self, function, args, kwargs, where: str):
        values = [a for a in _flat(args, kwargs) if isinstance(a, _Affine)]
        sources = sorted({s for v in values for s in v.sources})
        rows = 1 + sum(size for _, size in sources)

        def points(a):  # the batch size a shape query gave stands for this value's rows
            return a.aligned(sources) if isinstance(a, _Affine) else rows if a is BATCH else a
        with torch.no_grad():
            result = function(*_map(args, points), **_map(kwargs, points))
        if isinstance(result, (tuple, list)):
            return type(result)(self._checked(r, sources, rows, where) for r in result)
        return self._checked(result, sources, rows, where)

    @staticmethod
    def _checked(result, sources, rows, where):
        if not isinstance(result, torch.Tensor) or result.dim() == 0 or result.shape[0] != rows:
            raise UnsupportedLayerError(f"Operation {where} mixes the samples of a batch (it changes "
                                        "the batch dimension), so it is not a per-sample affine map.")
        if result.numel() > MAX_DENSE_ENTRIES:
            raise OperatorTooLargeError(f"Reading {where} as a dense map needs {result.numel():,} entries "
                                        f"(limit {MAX_DENSE_ENTRIES:,}); the network is too large for the exact "
                                        "analyses.")
        return _Affine(sources, result)

    def _new_layer(self, name: str, x: _Affine, kind: str, params) -> _Affine:
        sources, bias = x.matrices()
        shape = tuple(x.points.shape[1:])
        if kind == "max":
            windows, out_shape = _pool_windows(shape, *params)
            layer = Layer(name, "max", sources, bias, windows=windows, shape=out_shape)
        else:
            layer = Layer(name, "pieces", sources, bias, pieces=params(len(bias), shape), shape=shape)
        self.layers.append(layer)
        self.names.append(name)
        return _Affine([(len(self.layers), layer.units)], _basis_points(layer.units, layer.shape))


class _BatchSize:
    """What a shape query answers for the batch dimension: the rows of whichever value it is used on."""

    def __repr__(self):
        return "batch"


BATCH = _BatchSize()


def _shape_query(result, args, kwargs):
    """A shape query's answer with the batch dimension replaced by :data:`BATCH`."""
    if isinstance(result, torch.Size):
        return (BATCH, *result[1:])
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    return BATCH if dim == 0 and isinstance(result, int) else result


def _basis_points(n: int, shape: tuple) -> torch.Tensor:
    return torch.cat([torch.zeros(1, n, dtype=torch.float64), torch.eye(n, dtype=torch.float64)]).reshape(n + 1, *shape)


def _fetch_attr(module, target: str):
    value = module
    for part in target.split("."):
        value = getattr(value, part)
    return value.detach().to(torch.float64) if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def _method(name: str):
    return lambda self, *args, **kwargs: getattr(self, name)(*args, **kwargs)


def _flat(args, kwargs) -> list:
    out = []
    fx.node.map_aggregate((args, kwargs), lambda a: out.append(a) or a)
    return out


def _map(args, fn):
    return fx.node.map_aggregate(args, fn)


def _as_tensors(args):
    return _map(args, lambda a: a.points if isinstance(a, _Affine) else a)


def _one_factor(name: str, args) -> bool:
    """Whether a product has at most one input-dependent factor, where that factor may be."""
    if name == "addmm":  # input + mat1 @ mat2
        return not isinstance(args[2], _Affine)
    factors = [isinstance(a, _Affine) for a in args[:2]]
    return sum(factors) <= 1 and (factors[0] or name not in _LEFT_FACTOR_NAMES)


def _only_affine(args, where: str) -> _Affine:
    x = args[0]
    if not isinstance(x, _Affine):
        raise UnsupportedLayerError(f"{where}: its input must be the network's data.")
    return x


def _inside(node: fx.Node) -> str:
    """", in 'blocks.0.0' (PrimalDualLayer)" for a call made inside a submodule's forward, else ""."""
    path, kind = ([("", "")] + list(node.meta.get("nn_module_stack", {}).values()))[-1]
    return f", in '{path}' ({getattr(kind, '__name__', kind)})" if path else ""


def _not_pl(where: str) -> NotPiecewiseLinearError:
    return NotPiecewiseLinearError(
        f"Layer {where} is not piecewise linear, so the exact analyses (linear regions, stable units, "
        "compression, exact distances) do not apply to this model; spectra and attacks still do.")


def _activation_of_module(module: nn.Module):
    """(kind, params) of a ReLU-family or MaxPool module, None for any other."""
    if isinstance(module, nn.ReLU):
        return "pieces", lambda units, shape: Pieces.relu_family(units)
    if isinstance(module, nn.LeakyReLU):
        return "pieces", lambda units, shape: Pieces.relu_family(units, module.negative_slope)
    if isinstance(module, nn.PReLU):
        weight = module.weight.detach().to(torch.float64)
        return "pieces", lambda units, shape: Pieces.relu_family(units, _per_channel(weight, shape))
    if isinstance(module, nn.Hardtanh):  # ReLU6 is a Hardtanh(0, 6)
        return "pieces", lambda units, shape: Pieces.clamp(units, module.min_val, module.max_val)
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d)):
        return "max", (module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode)
    return None


def _activation_of_call(name: str, args, kwargs):
    """(kind, params) of a ReLU-family or max-pool call (functional, method or aten), else None."""
    def arg(i, key, default=None):
        return args[i] if len(args) > i else kwargs.get(key, default)
    if name in ("relu", "relu_"):
        return "pieces", lambda units, shape: Pieces.relu_family(units)
    if name in ("leaky_relu", "leaky_relu_"):
        slope = float(arg(1, "negative_slope", 0.01))
        return "pieces", lambda units, shape: Pieces.relu_family(units, slope)
    if name in ("prelu", "_prelu_kernel"):
        weight = arg(1, "weight")
        return "pieces", lambda units, shape: Pieces.relu_family(units, _per_channel(weight, shape))
    if name in ("hardtanh", "hardtanh_"):
        low, high = float(arg(1, "min_val", -1.0)), float(arg(2, "max_val", 1.0))
        return "pieces", lambda units, shape: Pieces.clamp(units, low, high)
    if name == "relu6":
        return "pieces", lambda units, shape: Pieces.clamp(units, 0.0, 6.0)
    if name in ("clamp", "clip", "clamp_", "clamp_min", "clamp_max"):
        low = arg(1, "min") if name != "clamp_max" else None
        high = arg(2, "max") if name != "clamp_min" else arg(1, "max")
        if isinstance(low, torch.Tensor) or isinstance(high, torch.Tensor):
            raise UnsupportedLayerError(f"'{name}' with tensor limits is not supported; give numbers.")
        low = None if low is None else float(low)
        high = None if high is None else float(high)
        return "pieces", lambda units, shape: Pieces.clamp(units, low, high)
    if name in ("max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices"):
        kernel = arg(1, "kernel_size")
        stride = arg(2, "stride") or kernel
        return "max", (kernel, stride, arg(3, "padding", 0), arg(4, "dilation", 1), bool(arg(5, "ceil_mode", False)))
    return None


def _per_channel(weight: torch.Tensor, shape: tuple) -> np.ndarray:
    """A PReLU's slopes, one per unit of a (channels, ...) shape."""
    w = weight.detach().to(torch.float64).reshape(-1)
    if w.numel() == 1:
        return np.full(math.prod(shape), float(w))
    return np.repeat(w.numpy(), math.prod(shape[1:]))


def _pool_windows(shape: tuple, kernel, stride, padding, dilation, ceil_mode):
    """The windows of a max pool over a (channels, *spatial) input: (units, k) indices into the
    flattened input (out-of-range taps of the padding replaced by the window's first tap), and
    the output shape. The output size is torch's own (run on zeros), so every mode agrees with it."""
    spatial = len(shape) - 1
    if spatial not in (1, 2):
        raise UnsupportedLayerError(f"Max pooling over {spatial} spatial dimensions is not supported.")
    pool = F.max_pool1d if spatial == 1 else F.max_pool2d
    out_shape = tuple(pool(torch.zeros(1, *shape), kernel, stride, padding, dilation, ceil_mode).shape[1:])
    k, s, p, d = (_tuple(v, spatial) for v in (kernel, stride or kernel, padding, dilation))
    axes = []
    for axis in range(spatial):
        o = np.arange(out_shape[1 + axis])[:, None]
        taps = o * s[axis] - p[axis] + np.arange(k[axis])[None] * d[axis]  # (out, k)
        axes.append(taps)
    grids = np.meshgrid(*[np.arange(n) for n in out_shape[1:]], indexing="ij")
    tap_grids = np.meshgrid(*[np.arange(kk) for kk in k], indexing="ij")
    coords = [axes[a][grids[a].reshape(-1)][:, tap_grids[a].reshape(-1)] for a in range(spatial)]
    inside = np.all([(c >= 0) & (c < shape[1 + a]) for a, c in enumerate(coords)], axis=0)
    flat = coords[0] if spatial == 1 else coords[0] * shape[2] + coords[1]
    first = np.take_along_axis(flat, inside.argmax(1)[:, None], 1)
    flat = np.where(inside, flat, first)  # a repeated tap never changes a max
    per_channel = math.prod(shape[1:])
    windows = (np.arange(shape[0])[:, None, None] * per_channel + flat[None]).reshape(-1, flat.shape[1])
    return windows.astype(np.int64), out_shape


def _tuple(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def trace(model: nn.Module) -> fx.GraphModule:
    """The fx graph of a model: an exported program's module as it is, else ``symbolic_trace``.

    Parameters
    ----------
    model : nn.Module
        Any module; an ``fx.GraphModule`` (for example ``torch.export``'s ``.module()``) is
        returned unchanged.

    Returns
    -------
    torch.fx.GraphModule
        The traced module.

    Raises
    ------
    UnsupportedLayerError
        If ``torch.fx`` cannot trace the forward pass (data-dependent control flow, ...).

    Examples
    --------
    >>> gm = trace(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    >>> [node.op for node in gm.graph.nodes]
    ['placeholder', 'call_module', 'call_module', 'output']
    """
    if isinstance(model, fx.GraphModule):
        return model
    try:
        return symbolic_trace(model)
    except Exception as exc:  # tracing failures come in many types
        raise UnsupportedLayerError(
            f"Cannot read the layers of {type(model).__name__}: torch.fx could not trace its forward "
            f"pass ({type(exc).__name__}: {exc}). Data-dependent control flow is not supported.") from exc


def read_graph(model: nn.Module, input_shape: tuple) -> tuple[PLGraph, nn.Module]:
    """The PLGraph of ``model`` and its float64 eval-mode copy, checked against each other.

    The graph's forward pass must reproduce the module's on four random inputs (to 1e-8,
    relative), or the model is refused.

    Parameters
    ----------
    model : nn.Module
        A piecewise-linear module torch.fx can trace, or the module of a ``torch.export``
        program exported with a dynamic batch dimension.
    input_shape : tuple of int
        The shape of one input, without the batch dimension.

    Returns
    -------
    graph : PLGraph
        The network's layers and output map, float64.
    module64 : nn.Module
        The float64, eval-mode copy of ``model`` (parameters frozen) the graph was read from.

    Raises
    ------
    NotPiecewiseLinearError
        Naming a layer that is not piecewise linear (Tanh, GELU, LayerNorm, ...).
    UnsupportedLayerError
        Naming any other operation the reader does not know, an exported program with a
        fixed batch size, or a graph that does not reproduce the forward pass.
    OperatorTooLargeError
        If an operation's dense map would exceed ``MAX_DENSE_ENTRIES`` entries.

    Examples
    --------
    A skip connection around a ReLU layer:

    >>> import torch
    >>> class Skip(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a, self.b = nn.Linear(2, 3), nn.Linear(3, 2)
    ...     def forward(self, x):
    ...         return x + self.b(torch.relu(self.a(x)))
    >>> graph, module64 = read_graph(Skip(), (2,))
    >>> [layer.units for layer in graph.layers], sorted(graph.output_sources), graph.is_chain
    ([3], [0, 1], False)
    """
    module64 = copy.deepcopy(model).to(torch.float64).eval()
    for p in module64.parameters():
        p.requires_grad_(False)
    traced = trace(module64)
    for node in traced.graph.nodes:
        value = node.meta.get("val") if node.op == "placeholder" else None
        if isinstance(value, torch.Tensor) and value.dim() and isinstance(value.shape[0], int):
            raise UnsupportedLayerError(
                f"This exported program only runs on batches of {value.shape[0]}; export it with a dynamic "
                "batch dimension: torch.export.export(model, (x,), dynamic_shapes=({0: "
                "torch.export.Dim('batch')},)).")
    graph = _Reader(traced, tuple(input_shape)).read()
    x = torch.randn(4, *input_shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        want = module64(x).reshape(4, -1).numpy()
    got = graph.evaluate(x.reshape(4, -1).numpy())[0]
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-8, atol=1e-8 * (1 + np.abs(want).max())):
        raise UnsupportedLayerError(
            f"The graph read from {type(model).__name__} does not reproduce its forward pass; it uses an "
            "operation the reader does not understand.")
    return graph, module64


__all__ = ["NotPiecewiseLinearError", "read_graph", "trace"]
