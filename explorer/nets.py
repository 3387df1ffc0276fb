"""Canonical piecewise-linear form of a ReLU network.

Every analysis in :mod:`explorer` sees a network as a chain

    x -> A_1 -> ReLU -> A_2 -> ReLU -> ... -> A_L -> output

where each ``A_k`` is a composition of affine operators (``Linear``, ``Conv2d``
with zero or circular padding and any stride, ``Flatten``/``Unflatten``,
``AvgPool2d``, with ``BatchNorm`` folded into the affine operator before it).
On the set of inputs that share one activation pattern (a *region*) the whole
network is one affine map ``f(x) = A x + c``.

>>> import torch
>>> from torch import nn
>>> net = canonical(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), (2,))
>>> A, c = net.region_affine_map(torch.tensor([0.5, -0.2]))
>>> A.shape, c.shape
((1, 2), (1,))
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = [
    "UnsupportedLayerError",
    "OperatorTooLargeError",
    "Op",
    "WeightLayer",
    "CanonicalNet",
    "canonical",
    "describe",
]

# The dense (matrix) form of a block is refused above this many entries.
MAX_DENSE_ENTRIES = 50_000_000


class UnsupportedLayerError(TypeError):
    """A layer that is not piecewise linear in the supported sense."""


class OperatorTooLargeError(ValueError):
    """An affine block too large to store as a dense matrix."""


@dataclass
class Op:
    """One step of the canonical chain.

    ``kind`` is one of ``linear``, ``conv2d``, ``avgpool2d``, ``reshape`` (affine)
    or ``relu``. ``module`` is a float64 copy with BatchNorm already folded in.
    Shapes are per sample.
    """

    kind: str
    name: str
    module: nn.Module
    in_shape: tuple
    out_shape: tuple


@dataclass
class WeightLayer:
    """A layer that carries a weight, as seen by the spectra and zoo code."""

    name: str
    kind: str  # "linear" or "conv2d"
    weight: np.ndarray  # (out, in) or (c_out, c_in, kh, kw), float64
    bias: np.ndarray | None
    in_shape: tuple
    out_shape: tuple
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    padding_mode: str = "zeros"


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
        graph = torch.fx.symbolic_trace(model).graph
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


def _check_supported(name: str, module: nn.Module) -> None:
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


class CanonicalNet(nn.Module):
    """A ReLU network as a chain of affine ops and ReLUs, in float64.

    Build it with :func:`canonical`. Calling it runs the forward pass; the other
    methods expose pre-activations, activation patterns and local affine maps.
    """

    def __init__(self, ops: list[Op], input_shape: tuple):
        super().__init__()
        self.ops = ops
        self.input_shape = tuple(input_shape)
        self._modules_list = nn.ModuleList([op.module for op in ops])
        self._dense = None  # affine_blocks(), built on first use

    # -- structure -----------------------------------------------------------------
    @property
    def output_shape(self) -> tuple:
        return self.ops[-1].out_shape if self.ops else self.input_shape

    @property
    def num_relu_layers(self) -> int:
        return sum(op.kind == "relu" for op in self.ops)

    @property
    def hidden_sizes(self) -> list[int]:
        """Number of ReLU units in each hidden layer."""
        return [math.prod(op.in_shape) for op in self.ops if op.kind == "relu"]

    def weight_layers(self) -> list[WeightLayer]:
        """Every Linear and Conv2d layer with its (BatchNorm-folded) weights."""
        layers = []
        for op in self.ops:
            m = op.module
            if op.kind not in ("linear", "conv2d"):
                continue
            bias = None if m.bias is None else m.bias.detach().numpy().copy()
            extra = {}
            if op.kind == "conv2d":
                extra = dict(stride=tuple(m.stride), padding=tuple(m.padding), padding_mode=m.padding_mode)
            layers.append(WeightLayer(op.name, op.kind, m.weight.detach().numpy().copy(), bias,
                                      op.in_shape, op.out_shape, **extra))
        return layers

    # -- evaluation ----------------------------------------------------------------
    def _as_batch(self, x) -> torch.Tensor:
        """Accept one input, a batch, or a batch of flattened inputs; return (batch, *input_shape)."""
        x = torch.as_tensor(x, dtype=torch.float64)
        n_in = math.prod(self.input_shape)
        if tuple(x.shape) == self.input_shape:
            return x.reshape(1, *self.input_shape)
        if x.dim() >= 2 and math.prod(x.shape[1:]) == n_in:
            return x.reshape(x.shape[0], *self.input_shape)
        if x.dim() == 1 and x.numel() == n_in:
            return x.reshape(1, *self.input_shape)
        raise ValueError(
            f"Input of shape {tuple(x.shape)} does not fit the network, which expects "
            f"(batch, {', '.join(map(str, self.input_shape))})."
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float64:
            return self.forward(x.to(torch.float64)).to(x.dtype)
        x = self._as_batch(x)
        for op in self.ops:
            x = op.module(x)
        return x

    def preactivations(self, x) -> list[torch.Tensor]:
        """Pre-activation of every ReLU unit: one (batch, units) float64 tensor per layer."""
        h = self._as_batch(x)
        out = []
        with torch.no_grad():
            for op in self.ops:
                if op.kind == "relu":
                    out.append(h.reshape(h.shape[0], -1).clone())
                h = op.module(h)
        return out

    def activation_pattern(self, x) -> list[torch.Tensor]:
        """Which units are on (pre-activation > 0): one bool (batch, units) tensor per layer."""
        return [z > 0 for z in self.preactivations(x)]

    def forward_with_pattern(self, x, pattern: list[torch.Tensor]) -> torch.Tensor:
        """Run the network with each ReLU replaced by a fixed 0/1 mask.

        ``pattern[k]`` has shape (units,) or (batch, units). The result is affine in x.
        """
        h = self._as_batch(x)
        k = 0
        for op in self.ops:
            if op.kind == "relu":
                mask = torch.as_tensor(pattern[k], dtype=h.dtype).reshape(-1, *h.shape[1:])
                h = h * mask
                k += 1
            else:
                h = op.module(h)
        return h

    def region_affine_map(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The affine map ``f(y) = A y + c`` of the network on the region containing ``x``.

        ``x`` is one input; A has shape (outputs, inputs) with both sides flattened.
        Exact in float64: it agrees with the forward pass at x to rounding error.
        """
        x = self._as_batch(x)
        if x.shape[0] != 1:
            raise ValueError("region_affine_map takes a single input.")
        pattern = [p[0] for p in self.activation_pattern(x)]
        n_in = math.prod(self.input_shape)
        basis = torch.cat([torch.zeros(1, n_in, dtype=torch.float64), torch.eye(n_in, dtype=torch.float64)])
        with torch.no_grad():
            out = self.forward_with_pattern(basis, pattern).reshape(n_in + 1, -1)
        c = out[0]
        A = (out[1:] - c).T
        return A.numpy(), c.numpy()

    def affine_blocks(self) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """Every affine block as a dense matrix, with whether a ReLU follows it: [(W, b, relu)].

        Shapes are flattened; convolutions become their (sparse but stored dense)
        operator matrices, refused above ``MAX_DENSE_ENTRIES`` entries. A network may end
        in a ReLU here (generators do). Built once per net (a conv operator can take a
        second) and returned read-only, shared by every caller.
        """
        if self._dense is None:
            blocks = []
            group: list[Op] = []
            for op in self.ops:
                if op.kind == "relu":
                    blocks.append((*_dense_of(group), True))
                    group = []
                else:
                    group.append(op)
            if group:
                blocks.append((*_dense_of(group), False))
            self._dense = blocks
        return list(self._dense)

    def dense_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The affine blocks between ReLUs as matrices: [(W_1, b_1), ..., (W_L, b_L)].

        The network is x -> W_L relu(... relu(W_1 x + b_1) ...) + b_L; see
        :meth:`affine_blocks`. A network that ends in a ReLU has no such form.
        """
        blocks = self.affine_blocks()
        if not blocks or blocks[-1][2]:
            raise ValueError("The network ends in a ReLU, so it has no last affine block (its scores).")
        return [(W, b) for W, b, _ in blocks]


def _dense_of(group: list[Op]) -> tuple[np.ndarray, np.ndarray]:
    if not group:
        raise ValueError("Each ReLU must follow an affine layer; this network starts with a ReLU.")
    in_shape = group[0].in_shape
    n_in = math.prod(in_shape)
    n_out = math.prod(group[-1].out_shape)
    if n_in * n_out > MAX_DENSE_ENTRIES:
        raise OperatorTooLargeError(
            f"The block {group[0].name}..{group[-1].name} as a dense matrix would have "
            f"{n_in * n_out:,} entries (limit {MAX_DENSE_ENTRIES:,})."
        )
    basis = torch.cat([torch.zeros(1, n_in, dtype=torch.float64), torch.eye(n_in, dtype=torch.float64)])
    h = basis.reshape(n_in + 1, *in_shape)
    with torch.no_grad():
        for op in group:
            h = op.module(h)
    h = h.reshape(n_in + 1, -1)
    b = h[0]
    W, b = (h[1:] - b).T.numpy().copy(), b.numpy().copy()
    W.flags.writeable = b.flags.writeable = False
    return W, b


def canonical(model: nn.Module, input_shape: tuple | None = None) -> CanonicalNet:
    """Convert a torch model to its canonical piecewise-linear form (float64, eval mode).

    Parameters
    ----------
    model : nn.Module
        An ``nn.Sequential`` (possibly nested) or a module whose ``forward`` is a
        straight chain of supported layers.
    input_shape : tuple, optional
        Shape of one input without the batch dimension. Read from
        ``model.input_shape`` when not given, else from the first Linear layer.

    Raises
    ------
    UnsupportedLayerError
        Naming the first layer that is not supported (e.g. ``MaxPool2d``, ``Tanh``).
    """
    if isinstance(model, CanonicalNet):
        return model
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    leaves = _leaf_modules(model)
    if input_shape is None:
        first = next((m for _, m in leaves if isinstance(m, (nn.Linear, nn.Conv2d))), None)
        if not isinstance(first, nn.Linear):
            raise ValueError("Give input_shape: it cannot be inferred for this model.")
        input_shape = (first.in_features,)
    input_shape = tuple(int(s) for s in input_shape)

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
        _check_supported(name, module)
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

    Uses the original module (before BatchNorm folding) so the counts match
    what the user built.
    """
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    net = canonical(model, input_shape)
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
