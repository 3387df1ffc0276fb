"""The sizes a checkpoint declares, checked against stated limits before anything is allocated.

A checkpoint is small, but the layers it declares are built from its numbers: a 1 kB
file can ask for a conv layer of 10^10 weights, an input of 20000 x 20000 pixels, or
a zip entry that inflates to gigabytes. :func:`check_archive` reads the zip directory
and counts the pickle's opcodes (``torch.load`` reads a pickle at about 2 µs an opcode,
a tensor's storage at about 0.25 ms), :func:`check_tensors` refuses tensors that claim
more values than their storage holds (stride-0, expanded or overlapping views), and
:func:`check_spec` reads only the numbers, propagates the shapes through the layers
(without tensors), and refuses a file whose weights, input or activations would pass
the limits below, or whose declared weights outnumber the weights the file holds.

Every message quotes what the file says through :func:`quoted` (at most
``MAX_QUOTE_CHARS`` characters, never the whole value: a 15 MB list or a nest of shared
lists costs no more to quote than a number).

See :mod:`explorer.data.messages`.
"""

from __future__ import annotations

import io
import math
import pickletools
import zipfile

import torch

from ..data.data_types import MAX_CLASS_NAME_CHARS, MAX_CLASSES, MAX_INPUT_ENTRIES
from ..data.messages import quoted, shortened

MAX_ACTIVATION_ENTRIES = 2**22  # the largest layer output, per sample; also the largest size a file may declare
MAX_PARAMETERS = 2**25  # weights of the whole network (the values of all the file's tensors)
MAX_UNPACKED_BYTES = 200 * 2**20  # what the checkpoint's archive may inflate to
MAX_NODES = 4096  # layers of a chain, nodes of a graph
MAX_TENSORS = 4096  # tensors of the state dict (torch reads each one's storage in about 0.25 ms)
MAX_ARCHIVE_ENTRIES = MAX_TENSORS + 16  # a storage each, the pickle and torch's few small records
MAX_PICKLE_BYTES = 2**20  # the pickle (data.pkl) unpacked; a 4096-node graph's takes 0.7 MB
MAX_PICKLE_OPCODES = 2**18  # about 0.5 s for torch's weights-only unpickler; a 4096-node graph has 200,000


class SizeLimitError(ValueError):
    """A declared size is not a positive integer, does not fit, or passes a limit."""


class _Mismatch(SizeLimitError):
    """A layer does not accept the shape the layers before it produce."""


def check_archive(data: bytes) -> None:
    """Refuse a torch (zip) checkpoint that would take long or much memory to read.

    Reads the zip directory and the pickle only: at most ``MAX_ARCHIVE_ENTRIES`` entries,
    ``MAX_UNPACKED_BYTES`` unpacked, and pickles (``*.pkl``) of at most ``MAX_PICKLE_BYTES``
    and ``MAX_PICKLE_OPCODES`` opcodes (counted with :func:`pickletools.genops`, which
    stops at the limit). A file that is not a zip archive is left to the caller.

    Parameters
    ----------
    data : bytes
        The file's content.

    Raises
    ------
    SizeLimitError
        A damaged archive or pickle, or one over a limit.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> torch.save({"w": torch.zeros(3)}, buffer)
    >>> check_archive(buffer.getvalue())  # small: nothing to refuse
    >>> buffer = io.BytesIO()
    >>> torch.save({"notes": "x" * 2**21}, buffer)  # 2 MB of text in the pickle
    >>> try:
    ...     check_archive(buffer.getvalue())
    ... except SizeLimitError as exc:
    ...     print(str(exc).split(";")[1])
     the limit is 1,048,576.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SizeLimitError(f"The checkpoint's archive is damaged ({type(exc).__name__}).") from exc
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        raise SizeLimitError(f"The checkpoint's archive has {len(infos):,} entries; the limit is "
                             f"{MAX_ARCHIVE_ENTRIES:,} (one per tensor, and a few more).")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise SizeLimitError(f"The checkpoint would unpack to {unpacked / 2**20:,.0f} MB; the limit is "
                             f"{MAX_UNPACKED_BYTES // 2**20} MB.")
    pickles = [i for i in infos if i.filename.endswith(".pkl")]
    pickled = sum(i.file_size for i in pickles)
    if pickled > MAX_PICKLE_BYTES:
        raise SizeLimitError(f"The checkpoint's pickle (its settings, names and shapes) holds {pickled:,} bytes; "
                             f"the limit is {MAX_PICKLE_BYTES:,}.")
    opcodes = 0
    try:
        for info in pickles:
            for _ in pickletools.genops(archive.read(info)):
                opcodes += 1
                if opcodes > MAX_PICKLE_OPCODES:
                    raise SizeLimitError(f"The checkpoint's pickle holds more than {MAX_PICKLE_OPCODES:,} "
                                         "opcodes (a list or dict entry is one or two); it would take long to read.")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, SizeLimitError):
            raise
        raise SizeLimitError(f"The checkpoint's pickle is damaged ({type(exc).__name__}).") from exc


_PLAIN_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64,
                 torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _dense(tensor: torch.Tensor) -> bool:
    """Whether the tensor's values are its own block of its storage: no two indices share a value."""
    expected = 1
    for stride, size in sorted((st, s) for s, st in zip(tensor.shape, tensor.stride()) if s > 1):
        if stride != expected:
            return False
        expected *= size
    held = tensor.untyped_storage().nbytes() // tensor.element_size()
    return tensor.storage_offset() + tensor.numel() <= held


def check_tensors(state: dict) -> int:
    """Check the state dict's tensors before any of them is copied; returns the values they hold.

    Refuses more than ``MAX_TENSORS`` entries, names that are not strings, tensors that are not
    plain dense CPU tensors of numbers (sparse, quantized, complex, ...), views that claim more
    values than their storage holds (a stride 0, an expanded or overlapping view), and more than
    ``MAX_PARAMETERS`` values in all.

    Parameters
    ----------
    state : dict
        The checkpoint's state dict, as ``torch.load`` returned it.

    Returns
    -------
    int
        The number of values of all the tensors.

    Raises
    ------
    SizeLimitError
        Any of the above.

    Examples
    --------
    >>> check_tensors({"w": torch.zeros(3, 4), "b": torch.zeros(3)})
    15
    >>> check_tensors({"w": torch.zeros(1).expand(10**6)})
    Traceback (most recent call last):
        ...
    explorer.modelfiles.declared_sizes.SizeLimitError: The tensor 'w' declares 1,000,000 values (shape (1000000,),
    strides (0,)) over a storage of 1; a checkpoint holds every value it declares.
    """
    if len(state) > MAX_TENSORS:
        raise SizeLimitError(f"The state dict holds {len(state):,} tensors; the limit is {MAX_TENSORS:,}.")
    total = 0
    for name, tensor in state.items():
        if not isinstance(name, str):
            raise SizeLimitError(f"The state dict's names must be strings; the file has {quoted(name)}.")
        if not isinstance(tensor, torch.Tensor):
            raise SizeLimitError(f"The state dict must map names to tensors; {quoted(name)} is not a tensor.")
        if tensor.layout != torch.strided or tensor.device.type != "cpu" or tensor.dtype not in _PLAIN_DTYPES:
            raise SizeLimitError(f"The tensor {quoted(name)} is not a plain tensor of numbers ({tensor.layout}, "
                                 f"{tensor.device.type}, {tensor.dtype}).")
        if tensor.numel() and not _dense(tensor):
            raise SizeLimitError(f"The tensor {quoted(name)} declares {tensor.numel():,} values (shape "
                                 f"{quoted(tuple(tensor.shape))}, strides {quoted(tensor.stride())}) over a storage of "
                                 f"{tensor.untyped_storage().nbytes() // tensor.element_size():,}; a checkpoint "
                                 "holds every value it declares.")
        total += tensor.numel()
        if total > MAX_PARAMETERS:
            raise SizeLimitError(f"The file's tensors up to {quoted(name)} hold {total:,} values; the limit is "
                                 f"{MAX_PARAMETERS:,}.")
    return total


def checked_count(value, what: str, low: int = 1) -> int:
    """A declared size: an integer from ``low`` to ``MAX_ACTIVATION_ENTRIES``.

    No size of a layer that passes the limits is larger than ``MAX_ACTIVATION_ENTRIES``.

    Parameters
    ----------
    value : object
        What the file says (a bool is not an integer here).
    what : str
        Names the layer and field in the message.
    low : int, default 1
        The smallest size allowed.

    Returns
    -------
    int
        ``value``.

    Raises
    ------
    SizeLimitError
        Not an integer, below ``low``, or above ``MAX_ACTIVATION_ENTRIES``.

    Examples
    --------
    >>> checked_count(3, "Layer 0: in")
    3
    >>> checked_count(True, "Layer 0: in")
    Traceback (most recent call last):
        ...
    explorer.modelfiles.declared_sizes.SizeLimitError: Layer 0: in must be an integer >= 1; the file says True.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SizeLimitError(f"{what} must be an integer >= {low}; the file says {quoted(value)}.")
    if value > MAX_ACTIVATION_ENTRIES:
        raise SizeLimitError(f"{what} is {quoted(value)}; no size may pass {MAX_ACTIVATION_ENTRIES:,}.")
    return value


def _pair(value, what: str, low: int) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SizeLimitError(f"{what} must be one integer or two; the file says {quoted(value)}.")
        return checked_count(value[0], what, low), checked_count(value[1], what, low)
    v = checked_count(value, what, low)
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
        n_in, n_out = checked_count(d.get("in"), f"{what}: in"), checked_count(d.get("out"), f"{what}: out")
        if shape[-1] != n_in:
            raise _Mismatch(f"{what} takes {n_in} inputs but receives shape {shape}.")
        return (*shape[:-1], n_out), n_in * n_out + (n_out if d.get("bias", True) else 0)
    if kind == "conv2d":
        c_in, c_out = checked_count(d.get("in"), f"{what}: in"), checked_count(d.get("out"), f"{what}: out")
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
        features = checked_count(d.get("features"), f"{what}: features")
        if shape[0] != features:
            raise _Mismatch(f"{what} normalises {features} features but receives shape {shape}.")
        return shape, (4 if d.get("affine", True) else 2) * features  # weight, bias, running mean, var
    if kind == "flatten":
        return (math.prod(shape),), 0
    if kind == "unflatten":
        target = d.get("shape")
        if not isinstance(target, (list, tuple)) or not target:
            raise SizeLimitError(f"{what}: shape must be a list of integers; the file says {quoted(target)}.")
        if len(target) > 3:
            raise SizeLimitError(f"{what}: shape must list 1 to 3 sizes; the file says {quoted(target)}.")
        target = tuple(checked_count(v, f"{what}: shape", 1) for v in target)
        if len(shape) != 1 or math.prod(target) != shape[0]:
            raise _Mismatch(f"{what} reshapes {shape} into {target}, which has another size.")
        return target, 0
    return shape, 0  # relu, and types refused later with their own message


def checked_input_shape(input_shape) -> tuple:
    """The input shape a file declares, as a tuple, refused beyond 3 sizes or ``MAX_INPUT_ENTRIES`` entries.

    Parameters
    ----------
    input_shape : object
        What the file says: a list or tuple of 1 to 3 positive integers.

    Returns
    -------
    tuple of int
        The shape.

    Raises
    ------
    SizeLimitError
        Not a list or tuple of 1 to 3 positive integers, or more than ``MAX_INPUT_ENTRIES``
        entries in all.

    Examples
    --------
    >>> checked_input_shape([1, 28, 28])
    (1, 28, 28)
    """
    if not isinstance(input_shape, (list, tuple)) or not 1 <= len(input_shape) <= 3:
        count = f" ({len(input_shape):,} entries)" if isinstance(input_shape, (list, tuple)) else ""
        raise SizeLimitError(f"The input shape must list 1 to 3 sizes, e.g. [64] or [1, 28, 28]; "
                             f"the file says {quoted(input_shape)}{count}.")
    shape = tuple(checked_count(v, "The input shape", 1) for v in input_shape)
    if math.prod(shape) > MAX_INPUT_ENTRIES:
        raise SizeLimitError(f"The input shape {shape} has {math.prod(shape):,} entries; the limit is "
                             f"{MAX_INPUT_ENTRIES:,}.")
    return shape


def checked_class_names(class_names) -> list[str] | None:
    """The class names a file declares (``None`` when it names none), checked.

    Parameters
    ----------
    class_names : object
        What the file says: ``None``, an empty list, or a list or tuple of strings.

    Returns
    -------
    list of str or None
        The names, or ``None`` for none.

    Raises
    ------
    SizeLimitError
        Not a list or tuple, more than ``MAX_CLASSES`` names, a name that is not a string or
        longer than ``MAX_CLASS_NAME_CHARS`` characters.

    Examples
    --------
    >>> checked_class_names(("cat", "dog")), checked_class_names([])
    (['cat', 'dog'], None)
    """
    if class_names is None or class_names == []:
        return None
    if not isinstance(class_names, (list, tuple)):
        raise SizeLimitError(f"The class names must be a list of strings; the file says {quoted(class_names)}.")
    if len(class_names) > MAX_CLASSES:
        raise SizeLimitError(f"The file names {len(class_names):,} classes; the limit is {MAX_CLASSES:,}.")
    for i, name in enumerate(class_names):
        if not isinstance(name, str):
            raise SizeLimitError(f"Class name {i} must be a string; the file says {quoted(name)}.")
        if len(name) > MAX_CLASS_NAME_CHARS:
            raise SizeLimitError(f"Class name {i} ({quoted(name)}) has {len(name):,} characters; the limit is "
                                 f"{MAX_CLASS_NAME_CHARS}.")
    return list(class_names)


def check_running_totals(what: str, shape: tuple, parameters: int, parts: str) -> None:
    """The checks every declared layer or node passes, for chains and graphs alike.

    Parameters
    ----------
    what : str
        Names the layer or node in the message.
    shape : tuple of int
        The part's per-sample output shape; at most ``MAX_ACTIVATION_ENTRIES`` values.
    parameters : int
        The weights declared up to and including the part; at most ``MAX_PARAMETERS``.
    parts : str
        What the spec is made of (``"layers"``, ``"nodes"``), for the message.

    Raises
    ------
    SizeLimitError
        When either limit is passed.

    Examples
    --------
    >>> check_running_totals("Layer 0 (linear)", (10,), 110, "layers")
    >>> check_running_totals("Layer 3 (conv2d)", (64, 512, 512), 0, "layers")
    Traceback (most recent call last):
        ...
    explorer.modelfiles.declared_sizes.SizeLimitError: Layer 3 (conv2d) outputs 16,777,216 values per sample
    (shape (64, 512, 512)); the limit is 4,194,304.
    """
    if math.prod(shape) > MAX_ACTIVATION_ENTRIES:
        raise SizeLimitError(f"{what} outputs {math.prod(shape):,} values per sample (shape {shape}); "
                             f"the limit is {MAX_ACTIVATION_ENTRIES:,}.")
    if parameters > MAX_PARAMETERS:
        raise SizeLimitError(f"The {parts} up to {what} declare {parameters:,} weights; the limit is "
                             f"{MAX_PARAMETERS:,}.")


def check_weights_held(parameters: int, weights_held: int) -> None:
    """Refuse a spec that declares more weights than the file's tensors hold.

    Parameters
    ----------
    parameters : int
        The weights the spec declares.
    weights_held : int
        The values the file's tensors hold.

    Raises
    ------
    SizeLimitError
        When ``parameters > weights_held``.

    Examples
    --------
    >>> check_weights_held(15, 15)
    """
    if parameters > weights_held:
        raise SizeLimitError(f"The weights do not fit the architecture: it declares {parameters:,} weights "
                             f"and the file holds {weights_held:,}.")


def check_spec(layers, input_shape, weights_held: int) -> tuple:
    """Check every size a layer spec (version 1) declares, before any layer exists.

    The shapes are propagated through the layers from the numbers alone; each layer's output
    and the weights declared so far pass :func:`check_running_totals`.

    Parameters
    ----------
    layers : list of dict
        The layers, as :func:`~explorer.modelfiles.checkpoints.spec_of` writes them (at most
        ``MAX_NODES``).
    input_shape : list or tuple of int
        The per-sample input shape the file declares.
    weights_held : int
        The values the file's tensors hold (:func:`check_tensors`).

    Returns
    -------
    tuple of int
        The per-sample output shape.

    Raises
    ------
    SizeLimitError
        Naming the layer and the field: a bad or too large size, a layer that does not fit the
        shape it receives, too many layers, or more weights declared than the file holds.

    Examples
    --------
    >>> layers = [{"type": "unflatten", "shape": [1, 8, 8]}, {"type": "conv2d", "in": 1, "out": 4, "kernel": 3},
    ...           {"type": "relu"}, {"type": "flatten"}, {"type": "linear", "in": 144, "out": 10}]
    >>> check_spec(layers, [64], weights_held=40 + 1450)
    (10,)
    """
    shape = checked_input_shape(input_shape)
    if isinstance(layers, list) and len(layers) > MAX_NODES:
        raise SizeLimitError(f"The architecture has {len(layers):,} layers; the limit is {MAX_NODES:,}.")
    if not isinstance(layers, list) or not layers or not all(isinstance(d, dict) for d in layers):
        raise SizeLimitError("The architecture must be a non-empty list of layers (dictionaries).")
    parameters = 0
    for i, d in enumerate(layers):
        what = f"Layer {i} ({shortened(d.get('type'))})"
        try:
            shape, weights = _layer(d, shape, what)
        except _Mismatch as exc:
            raise SizeLimitError(f"The layers do not fit the input shape {tuple(input_shape)}: {exc}") from exc
        parameters += weights
        check_running_totals(what, shape, parameters, "layers")
    check_weights_held(parameters, weights_held)
    return shape
