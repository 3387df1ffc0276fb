"""Datasets and their readers: the one ``Dataset`` type, the built-in sets, the user's files.

- :mod:`~explorer.data.datasets`     ``load(name)`` / ``names()``: 2-D toy sets, sklearn's 8x8 digits, and
  every reader of the user's files (public API: ``from explorer import datasets``)
- :mod:`~explorer.data.data_types`   ``Dataset``, ``DatasetError``, the stated size limits, the seeded split, ``card``
- :mod:`~explorer.data.user_data`    ``from_csv``: tables, separator and decimal comma detected
- :mod:`~explorer.data.npz_files`    ``from_npz``: arrays checked from their headers
- :mod:`~explorer.data.idx_files`    MNIST-format IDX files, ``mnist_from_files``
- :mod:`~explorer.data.data_folder`  ``from_files``, ``from_folder``: which reader a set of files needs
- :mod:`~explorer.data.playground`   TensorFlow Playground's ``gaussian`` and regression sets (``plane``,
  ``multi-gaussian``), with its noise
- :mod:`~explorer.data.messages`     ``quoted``: what a message quotes of a user's file (data or model), bounded

Imports no other part of ``explorer``.
"""

from . import (
    data_folder,
    data_types,
    datasets,
    idx_files,
    messages,
    npz_files,
    playground,
    user_data,
)

__all__ = ["datasets", "data_types", "user_data", "npz_files", "idx_files", "data_folder", "messages", "playground"]
