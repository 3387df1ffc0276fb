"""Rank truncation of one weight layer (Eckart-Young).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .. import nets
from ..nets.threads import single_threaded


def truncate_rank(model: nn.Module, layer, rank: int) -> nn.Module:
    """A copy of ``model`` with one weight layer replaced by its best rank-``rank`` approximation.

    A dense weight ``W = U S V^T`` becomes ``U_r S_r V_r^T`` (Eckart-Young: the closest
    rank-r matrix in Frobenius and spectral norm). A conv kernel is truncated in its
    channel-wise reshape ``(c_out, c_in*kh*kw)``, the factorisation of SVD training
    (Yang et al. 2020): a k x k conv to ``rank`` channels followed by a 1x1 conv.
    Biases are kept, and so are the model's ``input_shape``, ``class_names`` and ``zoo_name``.

    Parameters
    ----------
    model : torch.nn.Module
        A module whose layer names address its submodules (any model from the zoo, or the
        user's own).
    layer : str or int
        A name from ``nets.weight_layers(model)`` or an index into that list.
    rank : int
        The rank kept, at least 0.

    Returns
    -------
    torch.nn.Module
        The copy, in eval mode (``model`` is not changed).

    Raises
    ------
    ValueError
        For an unknown layer name or index, a negative rank, or a layer that is not a Linear
        or convolution module.

    References
    ----------
    C. Eckart and G. Young, "The approximation of one matrix by another of lower rank",
    Psychometrika 1 (1936); H. Yang, M. Tang, W. Wen, F. Yan, D. Hu, A. Li, H. Li and Y. Chen,
    "Learning low-rank deep neural networks via singular vector orthogonality regularization
    and singular value sparsification", CVPR Workshops 2020.

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> low = truncate_rank(net, 0, rank=1)
    >>> int(torch.linalg.matrix_rank(low[0].weight)), int(torch.linalg.matrix_rank(net[0].weight))
    (1, 3)
    """
    layers = nets.weight_layers(model)
    names = [l.name for l in layers]
    if isinstance(layer, int):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(f"Layer index {layer} out of range; the model has {len(layers)} weight layers.")
        name = names[layer]
    elif layer in names:
        name = layer
    else:
        raise ValueError(f"No weight layer named {layer!r}; choose one of {names}.")
    rank = int(rank)
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}.")
    new = copy.deepcopy(model)
    try:
        module = new.get_submodule(name)
    except AttributeError as exc:
        raise ValueError(f"Cannot find the module {name!r} inside the model to truncate it.") from exc
    if not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        raise ValueError(f"Layer {name!r} is a {type(module).__name__}, not a Linear or convolution.")
    with torch.no_grad(), single_threaded():
        w = module.weight.detach().to(torch.float64)
        mat = w.reshape(w.shape[0], -1)
        U, S, Vh = torch.linalg.svd(mat, full_matrices=False)
        low = (U[:, :rank] * S[:rank]) @ Vh[:rank]
        module.weight.copy_(low.reshape(w.shape).to(module.weight.dtype))
    for attr in ("input_shape", "class_names", "zoo_name"):
        if hasattr(model, attr):
            setattr(new, attr, getattr(model, attr))
    return new.eval()
