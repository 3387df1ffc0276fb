"""The sizes a checkpoint declares, checked against stated limits before anything is allocated.

A checkpoint is small, but the layers it declares are built from its numbers: a 1 kB
file can ask for a conv layer of 10^10 weights, an input of 20000 x 20000 pixels, or
a zip entry that inflates to gigabytes. :func:`check_archive` and :func:`check_spec`
read only the numbers, propagate the shapes through the layers (without tensors), and
refuse a file whose weights, input or activations would pass the limits below, or
whose declared weights outnumber the weights the file holds.
"""

from __future__ import annotations

import io
import math
import zipfile

MAX_INPUT_ENTRIES = 2**20  # one input sample: e.g. 3 x 512 x 512
MAX_ACTIVATION_ENTRIES = 2**22  # the largest layer output, per sample
MAX_PARAMETERS = 2**25  # weights of the whole network
MAX_UNPACKED_BYTES = 200 * 2**20  # what the checkpoint's archive may inflate to


class SizeLimitError(ValueError):
    """A declared size is not a positive integer, does not fit, or passes a limit."""


class _Mismatch(SizeLimitError):
    """A layer does not accept the shape the layers before it produce."""


def check_archive(data: bytes) -> None:
    """Refuse a torch (zip) checkpoint whose entries would inflate past ``MAX_UNPACKED_BYTES``.

    Reads the zip directory only; a non-zip file is left to ``torch.load`` to refuse.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SizeLimitError(f"The checkpoint's archive is damaged ({exc}).") from exc
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise SizeLimitError(f"The checkpoint would unpack to {unpacked / 2**20:,.0f} MB; the limit is "
                             f"{MAX_UNPACKED_BYTES // 2**20} MB.")


def _count(value, what: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SizeLimitError(f"{what} must be an integer >= {low}; the file says {value!r}.")
    return value


def _pair(value, what: str, low: int) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SizeLimitError(f"{what} must be one integer or two; the file says {value!r}.")
        return _count(value[0], what, low), _count(value[1], what, low)
    v = _count(value, what, low)
    return v, v


def _window(shape, d: dict, what: str, kernel_key: str, stride_default) -> tuple[int, ...]:
    """Output (H, W) of a conv or pooling window over the (C, H, W) ``shape``."""
    k = _pair(d.get(kernel_key), f"{what}: {kernel_key}", 1)
    s = _pair(d.get("stride", stride_default) or k, f"{what}: stride", 1)
    p = _pair(d.get("padding", 0), f"{what}: padding", 0)
    out = tuple((shape[1 + a] + 2 * p[a] - k[a]) // s[a] + 1 for a in range(2))
    if min(out) < 1:
        raise _Mismatch(f"{what}: a {k} window does not fit the {shape[1:]} input.")
    return out


def _layer(d: dict, shape: tuple, what: str) -> tuple[tuple, int]:
    """The output shape and the weight count of one declared layer."""
    kind = d.get("type")
    if kind == "linear":
        n_in, n_out = _count(d.get("in"), f"{what}: in"), _count(d.get("out"), f"{what}: out")
        if shape[-1] != n_in:
            raise _Mismatch(f"{what} takes {n_in} inputs but receives shape {shape}.")
        return (*shape[:-1], n_out), n_in * n_out + (n_out if d.get("bias", True) else 0)
    if kind == "conv2d":
        c_in, c_out = _count(d.get("in"), f"{what}: in"), _count(d.get("out"), f"{what}: out")
        if len(shape) != 3 or shape[0] != c_in:
            raise _Mismatch(f"{what} takes {c_in} channels but receives shape {shape}.")
        k = _pair(d.get("kernel"), f"{what}: kernel", 1)
        bias = c_out if d.get("bias", True) else 0
        return (c_out, *_window(shape, d, what, "kernel", 1)), c_out * c_in * k[0] * k[1] + bias
    if kind == "avgpool2d":
        if len(shape) != 3:
            raise _Mismatch(f"{what} pools images but receives shape {shape}.")
        return (shape[0], *_window(shape, d, what, "kernel", None)), 0
    if kind in ("batchnorm1d", "batchnorm2d"):
        features = _count(d.get("features"), f"{what}: features")
        if shape[0] != features:
            raise _Mismatch(f"{what} normalises {features} features but receives shape {shape}.")
        return shape, (4 if d.get("affine", True) else 2) * features  # weight, bias, running mean, var
    if kind == "flatten":
        return (math.prod(shape),), 0
    if kind == "unflatten":
        target = d.get("shape")
        if not isinstance(target, (list, tuple)) or not target:
            raise SizeLimitError(f"{what}: shape must be a list of integers; the file says {target!r}.")
        target = tuple(_count(v, f"{what}: shape", 1) for v in target)
        if len(shape) != 1 or math.prod(target) != shape[0]:
            raise _Mismatch(f"{what} reshapes {shape} into {target}, which has another size.")
        return target, 0
    return shape, 0  # relu, and types refused later with their own message


def checked_input_shape(input_shape) -> tuple:
    """The input shape a file declares, as a tuple, refused beyond 3 sizes or MAX_INPUT_ENTRIES entries."""
    if not isinstance(input_shape, (list, tuple)) or not 1 <= len(input_shape) <= 3:
        raise SizeLimitError(f"The input shape must list 1 to 3 sizes, e.g. [64] or [1, 28, 28]; "
                             f"the file says {input_shape!r}.")
    shape = tuple(_count(v, "The input shape", 1) for v in input_shape)
    if math.prod(shape) > MAX_INPUT_ENTRIES:
        raise SizeLimitError(f"The input shape {shape} has {math.prod(shape):,} entries; the limit is "
                             f"{MAX_INPUT_ENTRIES:,}.")
    return shape


def check_spec(layers, input_shape, weights_held: int) -> None:
    """Check every size the spec declares; ``weights_held`` counts the file's tensor entries.

    Raises :class:`SizeLimitError` naming the layer and the field, before any layer exists.
    """
    shape = checked_input_shape(input_shape)
    if not isinstance(layers, list):
        return  # refused later with its own message
    parameters = 0
    for i, d in enumerate(layers):
        if not isinstance(d, dict):
            return
        what = f"Layer {i} ({d.get('type')})"
        try:
            shape, weights = _layer(d, shape, what)
        except _Mismatch as exc:
            raise SizeLimitError(f"The layers do not fit the input shape {tuple(input_shape)}: {exc}") from exc
        parameters += weights
        if math.prod(shape) > MAX_ACTIVATION_ENTRIES:
            raise SizeLimitError(f"{what} outputs {math.prod(shape):,} values per sample (shape {shape}); "
                                 f"the limit is {MAX_ACTIVATION_ENTRIES:,}.")
        if parameters > MAX_PARAMETERS:
            raise SizeLimitError(f"The layers up to {what} declare {parameters:,} weights; the limit is "
                                 f"{MAX_PARAMETERS:,}.")
    if parameters > weights_held:
        raise SizeLimitError(f"The weights do not fit the architecture: it declares {parameters:,} weights "
                             f"and the file holds {weights_held:,}.")
