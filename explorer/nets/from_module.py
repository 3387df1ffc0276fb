"""Read an ``nn.Module`` into the canonical form: supported layers, BatchNorm folding.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .fx_trace import symbolic_trace
from .graph_net import GraphNet
from .ops import CanonicalNet, Op, UnsupportedLayerError
from .tracing import NotPiecewiseLinearError, read_graph

_AFFINE_TYPES = (nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.Flatten, nn.Unflatten)
_IDENTITY_TYPES = (nn.Identity, nn.Dropout)
_BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


def _leaf_modules(model: nn.Module, prefix: str = "") -> list[tuple[str, object]]:
    """The model's layers in call order, as (name, module-or-function) pairs.

    ``nn.Sequential`` is flattened recursively; any other module is traced with
    ``torch.fx`` and must be a straight chain of supported calls.
    """
    if isinstance(model, nn.Sequential):
        out = []
        for child_name, child in model.named_children():
            out += _leaf_modules(child, f"{prefix}{child_name}.")
        return out
    if isinstance(model, (*_AFFINE_TYPES, *_IDENTITY_TYPES, *_BATCHNORM_TYPES, nn.ReLU)):
        return [(prefix.rstrip(".") or type(model).__name__, model)]
    if isinstance(model, CanonicalNet):
        return [(op.name, op.module) for op in model.ops]
    if len(list(model.children())) == 0:
        raise UnsupportedLayerError(
            f"Layer '{prefix.rstrip('.') or type(model).__name__}' of type "
            f"{type(model).__name__} is not supported; supported layers are Linear, "
            "Conv2d, AvgPool2d, Flatten, Unflatten, BatchNorm1d/2d, ReLU, Dropout, Identity."
        )
    return _traced_chain(model, prefix)


def _traced_chain(model: nn.Module, prefix: str) -> list[tuple[str, object]]:
    try:
        graph = symbolic_trace(model).graph
    except Exception as exc:  # tracing failures come in many types
        raise UnsupportedLayerError(
            f"Cannot read the layers of {type(model).__name__}: it is not an nn.Sequential "
            f"and torch.fx could not trace it ({exc})."
        ) from exc
    modules = dict(model.named_modules())
    out: list[tuple[str, object]] = []
    previous = None
    for node in graph.nodes:
        if node.op in ("placeholder", "output"):
            previous = node if node.op == "placeholder" else previous
            continue
        if len(node.all_input_nodes) != 1 or node.all_input_nodes[0] is not previous:
            raise UnsupportedLayerError(
                f"{type(model).__name__} is not a plain chain of layers (node '{node.name}' "
                "takes several inputs or skips a step); skip connections are not supported."
            )
        if node.op == "call_module":
            out += _leaf_modules(modules[node.target], f"{prefix}{node.target}.")
        elif node.target in (torch.relu, nn.functional.relu, "relu"):
            out.append((f"{prefix}{node.name}", nn.ReLU()))
        elif node.target in (torch.flatten, "flatten"):
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            if start != 1:
                raise UnsupportedLayerError(f"flatten must start at dim 1 (node '{node.name}').")
            out.append((f"{prefix}{node.name}", nn.Flatten()))
        else:
            raise UnsupportedLayerError(
                f"Operation '{node.target}' (node '{node.name}') in {type(model).__name__} "
                "is not supported."
            )
        previous = node
    return out


def _fold_batchnorm(affine: nn.Module, bn: nn.Module, name: str) -> None:
    """Fold an eval-mode BatchNorm into the preceding Linear/Conv2d, in place.

    BN(y) = gamma (y - mean) / sqrt(var + eps) + beta, so with s = gamma / sqrt(var + eps):
    W' = s W (per output channel) and b' = s (b - mean) + beta.
    """
    if not isinstance(affine, (nn.Linear, nn.Conv2d)):
        raise UnsupportedLayerError(
            f"BatchNorm '{name}' must follow a Linear or Conv2d layer directly to be folded."
        )
    if bn.running_mean is None:
        raise UnsupportedLayerError(f"BatchNorm '{name}' has no running statistics to fold.")
    gamma = bn.weight if bn.affine else torch.ones_like(bn.running_mean)
    beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    bias = affine.bias if affine.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        shape = (-1,) + (1,) * (affine.weight.dim() - 1)
        affine.weight.mul_(scale.reshape(shape))
        new_bias = scale * (bias - bn.running_mean) + beta
        affine.bias = nn.Parameter(new_bias.clone())


def check_supported(name: str, module: nn.Module) -> None:
    """Refuse a layer of a chain whose settings the canonical chain does not support.

    Parameters
    ----------
    name : str
        The layer's name, for the message.
    module : nn.Module
        The layer. ``Conv2d`` needs ``groups=1``, ``dilation=1``, zero or circular padding
        given as integers; ``Flatten`` ``start_dim=1, end_dim=-1``; ``Unflatten`` ``dim=1``;
        ``AvgPool2d`` neither ``ceil_mode`` nor ``count_include_pad=False``. Other layers pass.

    Raises
    ------
    UnsupportedLayerError
        Naming the layer and the setting that is not supported.

    Examples
    --------
    >>> check_supported("pool", nn.AvgPool2d(2))
    >>> check_supported("conv", nn.Conv2d(2, 2, 3, groups=2))
    Traceback (most recent call last):
    ...
    explorer.nets.ops.UnsupportedLayerError: Conv2d 'conv': groups and dilation must be 1.
    """
    if isinstance(module, nn.Conv2d):
        if module.groups != 1 or tuple(module.dilation) != (1, 1):
            raise UnsupportedLayerError(f"Conv2d '{name}': groups and dilation must be 1.")
        if module.padding_mode not in ("zeros", "circular"):
            raise UnsupportedLayerError(
                f"Conv2d '{name}': padding_mode '{module.padding_mode}' is not supported "
                "(use 'zeros' or 'circular')."
            )
        if isinstance(module.padding, str):
            raise UnsupportedLayerError(f"Conv2d '{name}': give padding as integers.")
    if isinstance(module, nn.Flatten) and (module.start_dim != 1 or module.end_dim != -1):
        raise UnsupportedLayerError(f"Flatten '{name}': only start_dim=1, end_dim=-1 (keep the batch) is supported.")
    if isinstance(module, nn.Unflatten) and module.dim != 1:
        raise UnsupportedLayerError(f"Unflatten '{name}': only dim=1 is supported.")
    if isinstance(module, nn.AvgPool2d) and (module.ceil_mode or not module.count_include_pad):
        raise UnsupportedLayerError(f"AvgPool2d '{name}': ceil_mode and count_include_pad=False are not supported.")


_KIND = {nn.Linear: "linear", nn.Conv2d: "conv2d", nn.AvgPool2d: "avgpool2d",
         nn.Flatten: "reshape", nn.Unflatten: "reshape", nn.ReLU: "relu"}


def canonical(model: nn.Module, input_shape: tuple | None = None) -> CanonicalNet:
    """Convert a torch model to its canonical piecewise-linear form (float64, eval mode).

    Parameters
    ----------
    model : nn.Module
        An ``nn.Sequential`` (possibly nested) or a module whose ``forward`` is a
        straight chain of supported layers gives a :class:`CanonicalNet` chain; any other
        module torch.fx can trace whose operations are piecewise linear (skip connections,
        ``torch.cat``, MaxPool, LeakyReLU, PReLU, Hardtanh, clamp, Conv1d, grouped or dilated
        convolutions, ...) gives a :class:`~explorer.nets.graph_net.GraphNet`.
    input_shape : tuple of int, optional
        Shape of one input without the batch dimension. Read from
        ``model.input_shape`` when not given, else from the first Linear layer.

    Returns
    -------
    CanonicalNet
        A float64, eval-mode copy (BatchNorm folded into the layer before it): a
        :class:`CanonicalNet` chain, or a :class:`~explorer.nets.graph_net.GraphNet` (a
        subclass) for any other piecewise-linear network. A :class:`CanonicalNet` is
        returned as it is.

    Raises
    ------
    UnsupportedLayerError
        Naming the first operation that is not supported; :class:`NotPiecewiseLinearError`
        (a subclass) for a layer that is not piecewise linear (e.g. ``Tanh``, ``GELU``).
    ValueError
        If ``input_shape`` is not given and cannot be inferred, or a layer refuses inputs of
        that shape.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = canonical(nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)).eval())
    >>> type(net).__name__, net.input_shape, net.hidden_sizes, net.output_shape
    ('CanonicalNet', (2,), [4], (1,))
    >>> type(canonical(nn.Sequential(nn.Linear(2, 4), nn.LeakyReLU(), nn.Linear(4, 1)))).__name__
    'GraphNet'
    """
    if isinstance(model, CanonicalNet):
        return model
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    try:
        return _chain(model, input_shape)
    except UnsupportedLayerError:
        return _graph_net(model, input_shape)


def _graph_net(model: nn.Module, input_shape) -> GraphNet:
    """The graph form of a model that is not a plain chain (raises naming what stops it)."""
    input_shape = _input_shape(input_shape, model.modules())
    graph, module64 = read_graph(model, input_shape)
    return GraphNet(module64, graph, input_shape).eval()


def _input_shape(input_shape, modules) -> tuple:
    """The given input shape, else the input size of a first weight layer that is Linear."""
    if input_shape is None:
        first = next((m for m in modules if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))), None)
        if not isinstance(first, nn.Linear):
            raise ValueError("Give input_shape: it cannot be inferred for this model.")
        input_shape = (first.in_features,)
    return tuple(int(s) for s in input_shape)


def _chain(model: nn.Module, input_shape) -> CanonicalNet:
    leaves = _leaf_modules(model)
    input_shape = _input_shape(input_shape, (m for _, m in leaves))

    ops: list[Op] = []
    shape = input_shape
    probe = torch.zeros(1, *shape, dtype=torch.float64)
    for name, module in leaves:
        if isinstance(module, _IDENTITY_TYPES):
            continue
        if isinstance(module, _BATCHNORM_TYPES):
            if not ops or ops[-1].kind == "relu":
                raise UnsupportedLayerError(
                    f"BatchNorm '{name}' must follow a Linear or Conv2d layer directly to be folded."
                )
            bn = copy.deepcopy(module).double().eval()
            _fold_batchnorm(ops[-1].module, bn, name)
            continue
        kind = _KIND.get(type(module))
        if kind is None:
            raise UnsupportedLayerError(f"Layer '{name}' of type {type(module).__name__} is not supported.")
        check_supported(name, module)
        op_module = copy.deepcopy(module).double().eval()
        for p in op_module.parameters():
            p.requires_grad_(False)
        try:
            with torch.no_grad():
                probe = op_module(probe)
        except RuntimeError as exc:
            raise ValueError(
                f"Layer '{name}' ({type(module).__name__}) does not accept inputs of shape "
                f"{shape}: {exc}"
            ) from exc
        ops.append(Op(kind, name, op_module, shape, tuple(probe.shape[1:])))
        shape = tuple(probe.shape[1:])
    for earlier, later in zip(ops, ops[1:]):
        if earlier.kind == "relu" and later.kind == "relu":
            raise UnsupportedLayerError(f"Two ReLUs in a row ('{earlier.name}', '{later.name}').")
    return CanonicalNet(ops, input_shape).eval()


def describe(model: nn.Module, input_shape: tuple | None = None) -> list[dict]:
    """A table of the layers: name, type, output shape, parameter count.

    Uses the original module (before BatchNorm folding) so the counts match what the user
    built. For a network that is not a chain, every layer module is listed in call order
    (the additions, concatenations and functional calls between them are not).

    Parameters
    ----------
    model : nn.Module
        Any model :func:`canonical` reads; with ``input_shape`` known, also one that is not
        piecewise linear.
    input_shape : tuple of int, optional
        Shape of one input; read from ``model.input_shape`` when not given, else from the
        first Linear layer.

    Returns
    -------
    list of dict
        One row per layer after an ``"input"`` row, with keys ``layer`` (name), ``type``
        (class name), ``output_shape`` (str, per sample) and ``parameters`` (int).

    Raises
    ------
    UnsupportedLayerError
        As :func:`canonical` (:class:`NotPiecewiseLinearError` only when ``input_shape`` is
        not known).
    ValueError
        If ``input_shape`` is needed and cannot be inferred.

    Examples
    --------
    >>> rows = describe(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> [(r["layer"], r["type"], r["output_shape"], r["parameters"]) for r in rows]
    [('input', 'Input', '(2,)', 0), ('0', 'Linear', '(3,)', 9), ('1', 'ReLU', '(3,)', 0), ('2', 'Linear', '(1,)', 4)]
    """
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    try:
        net = canonical(model, input_shape)
    except NotPiecewiseLinearError:
        if input_shape is None:
            raise
        return _describe_calls(model, input_shape)  # a table needs no piecewise linearity
    if isinstance(net, GraphNet):
        return _describe_calls(model, net.input_shape)
    rows = [dict(layer="input", type="Input", output_shape=str(net.input_shape), parameters=0)]
    for name, module in _leaf_modules(model):
        if isinstance(module, _IDENTITY_TYPES):
            continue
        rows.append(dict(layer=name, type=type(module).__name__, output_shape="",
                         parameters=sum(p.numel() for p in module.parameters())))
    shapes = iter([op.out_shape for op in net.ops])
    previous = str(net.input_shape)
    for row in rows[1:]:
        if row["type"].startswith("BatchNorm"):
            row["output_shape"] = previous
        else:
            previous = str(next(shapes))
            row["output_shape"] = previous
    return rows


def _describe_calls(model: nn.Module, input_shape: tuple) -> list[dict]:
    """:func:`describe` of a graph: every layer module in call order (hooks on one zero input);
    the additions, concatenations and functional calls between them are not listed."""
    rows = [{"layer": "input", "type": "Input", "output_shape": str(tuple(input_shape)), "parameters": 0}]
    leaves = [(name, m) for name, m in model.named_modules() if not list(m.children()) and name]

    def record(name, module):
        def hook(_, __, out):
            rows.append({"layer": name, "type": type(module).__name__, "output_shape": str(tuple(out.shape[1:])),
                         "parameters": sum(p.numel() for p in module.parameters())})
        return hook
    handles = [m.register_forward_hook(record(name, m)) for name, m in leaves]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape, dtype=next(model.parameters(), torch.zeros(1)).dtype))
    finally:
        for h in handles:
            h.remove()
    return rows
