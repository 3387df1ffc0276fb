"""The graph spec of any module made of supported layers, read with ``torch.fx``.

``torch.fx.symbolic_trace`` records the module's ``forward`` as a graph of calls to
standard modules (``nn.Conv2d``, ...), torch functions (``torch.cat``, ``F.relu``, ...),
tensor methods (``x.view``, ...) and ``operator.add``. Each call becomes one node of a
graph spec (:mod:`explorer.modelfiles.graph_spec`); a module called twice becomes two nodes
with copies of its weights. The per-sample shapes that ``view`` / ``reshape`` produce
are read by running the traced graph once on a batch of two (``ShapeProp``); Dropout
and Identity are dropped (eval mode). Anything else is refused, naming the operation.

The module is traced by :func:`explorer.nets.tracing.trace`, the entry point that
:func:`explorer.nets.read_graph` uses too; the two readers of the traced graph stay two, as they
answer different questions. ``nets`` runs the graph on basis points, so that any affine
operation needs no rule and the result is the dense maps of a ``PLGraph`` (smooth layers
refused); this reader maps each call to the layer that rebuilds it (its module type and
settings, smooth activations included), which a checkpoint must store and points do not tell.
"""

from __future__ import annotations

import copy
import operator

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from .. import nets
from ..nets.tracing import trace
from .graph_spec import NODE_TYPES


def _ints(value, n: int) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)] * n


def _conv(m: nn.Module, n: int) -> dict:
    padding = m.padding
    if isinstance(padding, str):  # 'valid' is 0; 'same' at stride 1 pads d (k - 1) / 2 when that is whole
        reach = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if padding == "same" and any(r % 2 for r in reach):
            raise nets.UnsupportedLayerError(f"{type(m).__name__}: padding='same' with an even kernel pads "
                                             "unevenly; give padding as integers.")
        padding = [r // 2 for r in reach] if padding == "same" else [0] * n
    return {"type": f"conv{n}d", "in": m.in_channels, "out": m.out_channels, "kernel": list(m.kernel_size),
            "stride": list(m.stride), "padding": _ints(padding, n), "dilation": list(m.dilation),
            "groups": m.groups, "padding_mode": m.padding_mode, "bias": m.bias is not None}


def _pool(m: nn.Module, n: int) -> dict:
    name = type(m).__name__
    if m.ceil_mode or getattr(m, "return_indices", False) or getattr(m, "divisor_override", None):
        raise nets.UnsupportedLayerError(f"{name}: ceil_mode, return_indices and divisor_override are not supported.")
    d = {"kernel": _ints(m.kernel_size, n), "stride": _ints(m.stride or m.kernel_size, n),
         "padding": _ints(m.padding, n)}
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
        return {"type": f"maxpool{n}d", **d, "dilation": _ints(m.dilation, n)}
    return {"type": f"avgpool{n}d", **d, "count_include_pad": bool(m.count_include_pad)}


def _settings(m: nn.Module, out_shape: tuple) -> dict | None:
    """The node settings of one module (``None``: a no-op in eval mode); ``out_shape`` per sample."""
    if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)):
        return None
    if isinstance(m, nn.Linear):
        return {"type": "linear", "in": m.in_features, "out": m.out_features, "bias": m.bias is not None}
    for n, conv, pools in ((1, nn.Conv1d, (nn.MaxPool1d, nn.AvgPool1d)), (2, nn.Conv2d, (nn.MaxPool2d, nn.AvgPool2d))):
        if type(m) is conv:
            return _conv(m, n)
        if type(m) in pools:
            return _pool(m, n)
    if type(m) in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d):
        return {"type": type(m).__name__.lower(), "output": list(out_shape[1:])}
    if type(m) in (nn.BatchNorm1d, nn.BatchNorm2d):
        if not m.track_running_stats:
            raise nets.UnsupportedLayerError("BatchNorm without running statistics cannot be folded or saved.")
        return {"type": type(m).__name__.lower(), "features": m.num_features, "eps": m.eps, "affine": m.affine}
    if type(m) is nn.ReLU6:
        return {"type": "relu6"}
    if type(m) is nn.Hardtanh:
        return {"type": "hardtanh", "min": float(m.min_val), "max": float(m.max_val)}
    if type(m) is nn.LeakyReLU:
        return {"type": "leakyrelu", "negative_slope": float(m.negative_slope)}
    if type(m) is nn.PReLU:
        return {"type": "prelu", "parameters": m.num_parameters}
    if type(m) is nn.ReLU:
        return {"type": "relu"}
    if type(m) in _SMOOTH:
        return {"type": _SMOOTH[type(m)]}
    if type(m) in (nn.Softmax, nn.LogSoftmax):
        dim = m.dim if m.dim is None or m.dim >= 0 else m.dim + len(out_shape) + 1
        if dim is None or not 1 <= dim <= len(out_shape):
            raise nets.UnsupportedLayerError(f"{type(m).__name__}(dim={m.dim}) must name an axis after the batch.")
        return {"type": type(m).__name__.lower(), "dim": dim}
    if type(m) in (nn.Flatten, nn.Unflatten):
        return _reshape(out_shape)
    raise nets.UnsupportedLayerError(f"Layer of type {type(m).__name__} cannot be saved in a checkpoint; "
                                     f"supported node types: {', '.join(NODE_TYPES)}.")


def _reshape(out_shape: tuple) -> dict:
    return {"type": "flatten"} if len(out_shape) == 1 else {"type": "reshape", "shape": list(out_shape)}


# functional forms: (positional argument names after the input, the module that computes the same)
_FUNCTIONS = {
    F.relu: ((), lambda: nn.ReLU()), torch.relu: ((), lambda: nn.ReLU()), F.relu6: ((), lambda: nn.ReLU6()),
    F.leaky_relu: (("negative_slope",), nn.LeakyReLU), F.hardtanh: (("min_val", "max_val"), nn.Hardtanh),
    F.max_pool1d: (("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"), nn.MaxPool1d),
    F.max_pool2d: (("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"), nn.MaxPool2d),
    F.avg_pool1d: (("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"), nn.AvgPool1d),
    F.avg_pool2d: (("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
                   nn.AvgPool2d),
    F.adaptive_avg_pool1d: (("output_size",), nn.AdaptiveAvgPool1d),
    F.adaptive_avg_pool2d: (("output_size",), nn.AdaptiveAvgPool2d),
    torch.tanh: ((), nn.Tanh), torch.sigmoid: ((), nn.Sigmoid), F.gelu: ((), nn.GELU), F.silu: ((), nn.SiLU),
}
_SMOOTH = {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.GELU: "gelu", nn.SiLU: "silu"}
_METHODS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_IGNORED_KWARGS = ("inplace",)


def _describe(node: fx.Node) -> str:
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    return f"{node.op} {target!s} (node '{node.name}')"


def _shape(node: fx.Node) -> tuple | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape[1:]) if isinstance(meta, torch.fx.passes.shape_prop.TensorMetadata) else None


class _Reader:
    """Walks the traced graph once, writing nodes and their weights."""

    def __init__(self, gm: fx.GraphModule):
        self.gm, self.nodes, self.state, self.alias = gm, [], {}, {}

    def name(self, arg) -> str:
        if not isinstance(arg, fx.Node) or arg not in self.alias:
            raise nets.UnsupportedLayerError(f"An operation reads {arg!r}, which is not a tensor the network "
                                             "computed; constants and shapes cannot be saved.")
        return self.alias[arg]

    def emit(self, node: fx.Node, settings: dict | None, inputs: list, module: nn.Module | None = None):
        if settings is None:  # a no-op: the node stands for its input
            self.alias[node] = self.name(inputs[0])
            return
        meta = node.meta.get("tensor_meta")
        if meta is None or meta.shape[0] != 2:  # traced on a batch of two
            raise nets.UnsupportedLayerError(f"{_describe(node)} does not keep the batch axis 0 of the samples.")
        self.alias[node] = node.name
        self.nodes.append({"name": node.name, **settings, "inputs": [self.name(a) for a in inputs]})
        for key, value in (module.state_dict() if module is not None else {}).items():
            self.state[f"layers.{node.name}.{key}"] = value.detach().cpu().clone()

    def function(self, node: fx.Node):
        target, args, kwargs = node.target, list(node.args), dict(node.kwargs)
        for key in _IGNORED_KWARGS:
            kwargs.pop(key, None)
        if node.op == "call_method" and target in ("size", "dim") or target in (getattr, operator.getitem) \
                and _shape(node) is None:
            return  # shape arithmetic: view / reshape below read their result from the traced shapes
        if target in (operator.add, torch.add, "add") and not kwargs:
            if not all(isinstance(a, fx.Node) and _shape(a) is not None for a in args):
                raise nets.UnsupportedLayerError(
                    f"{_describe(node)} adds a constant; only tensor + tensor is supported.")
            return self.emit(node, {"type": "add"}, args)
        if target is torch.cat:
            tensors, dim = args[0], (args[1] if len(args) > 1 else kwargs.get("dim", 0))
            rank = len(_shape(tensors[0])) + 1
            dim = dim + rank if dim < 0 else dim
            if dim == 0:
                raise nets.UnsupportedLayerError(f"{_describe(node)} joins along the batch axis.")
            return self.emit(node, {"type": "cat", "dim": dim}, list(tensors))
        if target in (torch.clamp, torch.clip, "clamp", "clip"):
            names = iter(("min", "max"))
            bounds = {**{next(names): a for a in args[1:]}, **kwargs}
            low, high = bounds.get("min"), bounds.get("max")
            return self.emit(node, {"type": "clamp", "min": None if low is None else float(low),
                                    "max": None if high is None else float(high)}, args[:1])
        if target in (torch.flatten, torch.reshape, "flatten", "view", "reshape", "contiguous"):
            if target == "contiguous":
                return self.emit(node, None, args[:1])
            return self.emit(node, _reshape(_shape(node)), args[:1])
        if target is F.dropout:
            if kwargs.get("training", args[2] if len(args) > 2 else True):
                raise nets.UnsupportedLayerError(f"{_describe(node)} drops units in eval mode (training=True).")
            return self.emit(node, None, args[:1])
        maker = _FUNCTIONS.get(target) if node.op == "call_function" else (((), _METHODS[target])
                                                                             if target in _METHODS else None)
        if maker is None:
            raise nets.UnsupportedLayerError(f"The operation {_describe(node)} is not supported; supported node "
                                             f"types: {', '.join(NODE_TYPES)}.")
        names, cls = maker
        module = cls(**dict(zip(names, args[1:])), **kwargs)
        return self.emit(node, _settings(module, _shape(node)), args[:1])

    def read(self) -> None:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if self.alias:
                    raise nets.UnsupportedLayerError("The network must take one input tensor.")
                self.alias[node] = "input"
            elif node.op == "call_module":
                if len(node.args) != 1 or node.kwargs:
                    raise nets.UnsupportedLayerError(f"{_describe(node)} is called with more than its input.")
                module = self.gm.get_submodule(node.target)
                self.emit(node, _settings(module, _shape(node)), list(node.args), module)
            elif node.op in ("call_function", "call_method"):
                self.function(node)
            elif node.op == "get_attr":
                raise nets.UnsupportedLayerError(f"{_describe(node)} uses a tensor attribute directly; put the "
                                                 "weights in standard layers (nn.Linear, nn.Conv2d, ...).")
            elif node.op == "output":
                self.output = self.name(node.args[0])


def graph_spec_of(model: nn.Module, input_shape) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """The graph spec of ``model`` (traced in eval mode) and the state dict of
    :class:`~explorer.modelfiles.graph_spec.GraphModel`.

    ``model`` is copied, traced with ``torch.fx`` and run once on a random batch of two to
    read every node's shape. Nodes that the output does not depend on are left out.

    Parameters
    ----------
    model : torch.nn.Module
        A module made of the supported layers, functions and tensor methods (see the module's text).
    input_shape : tuple of int
        The shape of one input.

    Returns
    -------
    graph : list of dict
        The nodes (see :mod:`explorer.modelfiles.graph_spec`), in topological order.
    state : dict of {str: torch.Tensor}
        The weights, keyed as ``GraphModel(graph)`` names them (``layers.<node>.<parameter>``).

    Raises
    ------
    explorer.nets.UnsupportedLayerError
        Naming the first unsupported operation, or a network that returns its input unchanged.

    Examples
    --------
    >>> class Residual(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(3, 3)
    ...     def forward(self, x):
    ...         return x + torch.relu(self.fc(x))
    >>> graph, state = graph_spec_of(Residual(), (3,))
    >>> [(d["name"], d["type"], d["inputs"]) for d in graph]
    [('fc', 'linear', ['input']), ('relu', 'relu', ['fc']), ('add', 'add', ['input', 'relu'])]
    >>> sorted(state)
    ['layers.fc.bias', 'layers.fc.weight']
    """
    model = copy.deepcopy(model).eval()
    gm = trace(model)  # the one fx entry point, shared with nets.read_graph
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    with torch.no_grad():
        ShapeProp(gm).propagate(torch.rand(2, *input_shape, dtype=dtype, generator=torch.Generator().manual_seed(0)))
    reader = _Reader(gm)
    reader.read()
    if reader.output == "input":
        raise nets.UnsupportedLayerError("The network returns its input unchanged.")
    needed, nodes = {reader.output}, []
    for d in reversed(reader.nodes):
        if d["name"] in needed:
            needed.update(d["inputs"])
            nodes.append(d)
    nodes.reverse()
    kept = {f"layers.{d['name']}." for d in nodes}
    state = {k: v for k, v in reader.state.items() if any(k.startswith(p) for p in kept)}
    return nodes, state
