"""Graph specs: any network of piecewise-linear layers fed by earlier layers, as plain data.

A graph spec is a list of nodes in topological order; each node is a dict
``{"name", "type", <settings>, "inputs": [names of earlier nodes, or "input"]}`` and the
last node is the output. :class:`GraphModel` builds the modules and runs the nodes in
order, so ``torch.fx.symbolic_trace(GraphModel(spec))`` is a graph of standard modules
(``Conv2d``, ``MaxPool2d``, ...) and torch functions (``operator.add``, ``torch.cat``,
``torch.clamp``) with no custom leaf op. Node types and their settings:

- ``linear``: in, out, bias;  ``conv1d`` / ``conv2d``: in, out, kernel, stride, padding,
  dilation, groups, padding_mode, bias (sizes as lists, one entry per spatial axis)
- ``maxpool1d`` / ``maxpool2d``: kernel, stride, padding, dilation
- ``avgpool1d`` / ``avgpool2d``: kernel, stride, padding, count_include_pad
- ``adaptiveavgpool1d`` / ``adaptiveavgpool2d``: output;  ``batchnorm1d`` / ``batchnorm2d``:
  features, eps, affine (eval mode: running statistics)
- ``relu``, ``relu6``, ``leakyrelu`` (negative_slope), ``prelu`` (parameters: 1 or one per
  channel), ``hardtanh`` (min, max), ``clamp`` (min, max; either may be None)
- ``tanh``, ``sigmoid``, ``gelu``, ``silu``, ``softmax`` / ``logsoftmax`` (dim: the axis of the batched
  tensor, >= 1): smooth functions, so that a model with them can be uploaded for the analyses that do
  not need piecewise linearity (spectra, attacks, Overview)
- ``flatten`` (all axes after the batch), ``reshape`` (shape: the per-sample shape)
- ``add`` (two or more inputs of one shape), ``cat`` (dim: the axis of the batched tensor, >= 1)

Dropout and Identity are no-ops in eval mode and have no node. The declared sizes are
checked by :func:`explorer.modelfiles.declared_graph.check_graph` before anything is built.

>>> spec = [{"name": "fc", "type": "linear", "in": 2, "out": 2, "bias": True, "inputs": ["input"]},
...         {"name": "act", "type": "relu", "inputs": ["fc"]},
...         {"name": "res", "type": "add", "inputs": ["act", "input"]}]
>>> import torch
>>> net = GraphModel(spec)
>>> x = torch.ones(1, 2)
>>> torch.equal(net(x), torch.relu(net.layers["fc"](x)) + x)
True
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

MODULE_TYPES = ("linear", "conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d",
                "adaptiveavgpool1d", "adaptiveavgpool2d", "batchnorm1d", "batchnorm2d", "relu", "relu6",
                "leakyrelu", "prelu", "hardtanh", "flatten", "reshape")
SMOOTH_TYPES = ("tanh", "sigmoid", "gelu", "silu", "softmax", "logsoftmax")
FUNCTION_TYPES = ("add", "cat", "clamp")
NODE_TYPES = MODULE_TYPES + SMOOTH_TYPES + FUNCTION_TYPES
# elementwise activations and max pooling: a classifier's output node must not be one of these
NONLINEAR_TYPES = ("relu", "relu6", "leakyrelu", "prelu", "hardtanh", "clamp", "maxpool1d", "maxpool2d",
                   *SMOOTH_TYPES)


def _conv(d: dict) -> nn.Module:
    cls = nn.Conv1d if d["type"] == "conv1d" else nn.Conv2d
    return cls(d["in"], d["out"], tuple(d["kernel"]), stride=tuple(d["stride"]), padding=tuple(d["padding"]),
               dilation=tuple(d["dilation"]), groups=d["groups"], padding_mode=d["padding_mode"], bias=d["bias"])


def _reshape(d: dict) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Unflatten(1, tuple(d["shape"])))


_BUILDERS: dict[str, Callable[[dict], nn.Module]] = {
    "linear": lambda d: nn.Linear(d["in"], d["out"], bias=d["bias"]),
    "conv1d": _conv,
    "conv2d": _conv,
    "maxpool1d": lambda d: nn.MaxPool1d(d["kernel"], d["stride"], d["padding"], d["dilation"]),
    "maxpool2d": lambda d: nn.MaxPool2d(tuple(d["kernel"]), tuple(d["stride"]), tuple(d["padding"]),
                                        tuple(d["dilation"])),
    "avgpool1d": lambda d: nn.AvgPool1d(d["kernel"], d["stride"], d["padding"],
                                        count_include_pad=d["count_include_pad"]),
    "avgpool2d": lambda d: nn.AvgPool2d(tuple(d["kernel"]), tuple(d["stride"]), tuple(d["padding"]),
                                        count_include_pad=d["count_include_pad"]),
    "adaptiveavgpool1d": lambda d: nn.AdaptiveAvgPool1d(tuple(d["output"])),
    "adaptiveavgpool2d": lambda d: nn.AdaptiveAvgPool2d(tuple(d["output"])),
    "batchnorm1d": lambda d: nn.BatchNorm1d(d["features"], eps=d["eps"], affine=d["affine"]),
    "batchnorm2d": lambda d: nn.BatchNorm2d(d["features"], eps=d["eps"], affine=d["affine"]),
    "relu": lambda d: nn.ReLU(),
    "tanh": lambda d: nn.Tanh(),
    "sigmoid": lambda d: nn.Sigmoid(),
    "gelu": lambda d: nn.GELU(),
    "silu": lambda d: nn.SiLU(),
    "softmax": lambda d: nn.Softmax(d["dim"]),
    "logsoftmax": lambda d: nn.LogSoftmax(d["dim"]),
    "relu6": lambda d: nn.ReLU6(),
    "leakyrelu": lambda d: nn.LeakyReLU(d["negative_slope"]),
    "prelu": lambda d: nn.PReLU(d["parameters"]),
    "hardtanh": lambda d: nn.Hardtanh(d["min"], d["max"]),
    "flatten": lambda d: nn.Flatten(),
    "reshape": _reshape,
}


class GraphModel(nn.Module):
    """The network of a graph spec: ``layers[name]`` holds each node's module.

    ``forward`` runs the nodes in the spec's order; ``add`` is ``a + b + ...``, ``cat`` is
    ``torch.cat(inputs, dim)``, ``clamp`` is ``torch.clamp(h, min, max)``. The spec must have
    passed :func:`~explorer.modelfiles.declared_graph.check_graph` (settings complete, names known).

    Parameters
    ----------
    graph : list of dict
        The nodes, in topological order (copied).
    input_shape : tuple of int, optional
        Stored as ``input_shape``.
    class_names : list of str, optional
        Stored as ``class_names``.

    Attributes
    ----------
    graph_spec : list of dict
        A copy of ``graph``.
    layers : torch.nn.ModuleDict
        The module of every node that has one (not ``add``, ``cat``, ``clamp``), by node name;
        its state dict keys are ``layers.<name>.<parameter>``.
    """

    def __init__(self, graph: list[dict], input_shape=None, class_names=None):
        super().__init__()
        self.graph_spec = copy.deepcopy(graph)
        self.layers = nn.ModuleDict({d["name"]: _BUILDERS[d["type"]](d) for d in graph if d["type"] in _BUILDERS})
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.class_names = list(class_names) if class_names is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the nodes in order on a batch.

        Parameters
        ----------
        x : torch.Tensor of shape (N, *input_shape)
            The batch, the value of ``"input"``.

        Returns
        -------
        torch.Tensor
            The last node's value, (N, *output).
        """
        values = {"input": x}
        for node in self.graph_spec:
            args = [values[name] for name in node["inputs"]]
            kind = node["type"]
            if kind == "add":
                h = args[0]
                for other in args[1:]:
                    h = h + other
            elif kind == "cat":
                h = torch.cat(args, node["dim"])
            elif kind == "clamp":
                h = torch.clamp(args[0], node["min"], node["max"])
            else:
                h = self.layers[node["name"]](args[0])
            values[node["name"]] = h
        return values[self.graph_spec[-1]["name"]]
