"""Deprecated: the modules of ``explorer.models`` moved by idea; ``explorer.models`` is removed in 0.3.0.

- ``datasets``: :mod:`explorer.data.datasets`
- ``data_types``: :mod:`explorer.data.data_types`
- ``user_data``: :mod:`explorer.data.user_data`
- ``idx_files``: :mod:`explorer.data.idx_files`
- ``npz_files``: :mod:`explorer.data.npz_files`
- ``data_folder``: :mod:`explorer.data.data_folder`
- ``messages``: :mod:`explorer.data.messages`
- ``checkpoints``: :mod:`explorer.modelfiles.checkpoints`
- ``declared_sizes``: :mod:`explorer.modelfiles.declared_sizes`
- ``declared_graph``: :mod:`explorer.modelfiles.declared_graph`
- ``graph_spec``: :mod:`explorer.modelfiles.graph_spec`
- ``graph_trace``: :mod:`explorer.modelfiles.graph_trace`
- ``training``: :mod:`explorer.training`
- ``stepper``: :mod:`explorer.training.stepper`
- ``evaluation``: :mod:`explorer.training.evaluation`
- ``zoo``: :mod:`explorer.zoo`
- ``architectures``: :mod:`explorer.zoo.architectures`
- ``generators``: :mod:`explorer.inversion.generators`
- ``sparse_recovery``: :mod:`explorer.inverse.sparse_recovery`
- ``reconstruction``: :mod:`explorer.inverse.reconstruction`
- ``orthogonal``: :mod:`explorer.spectra.orthogonal`

Each attribute read here warns with a ``DeprecationWarning`` naming the new module
(see :mod:`explorer._deprecation`).
"""

from explorer._deprecation import forward

_MOVED = {
    "datasets": "explorer.data.datasets",
    "data_types": "explorer.data.data_types",
    "user_data": "explorer.data.user_data",
    "idx_files": "explorer.data.idx_files",
    "npz_files": "explorer.data.npz_files",
    "data_folder": "explorer.data.data_folder",
    "messages": "explorer.data.messages",
    "checkpoints": "explorer.modelfiles.checkpoints",
    "declared_sizes": "explorer.modelfiles.declared_sizes",
    "declared_graph": "explorer.modelfiles.declared_graph",
    "graph_spec": "explorer.modelfiles.graph_spec",
    "graph_trace": "explorer.modelfiles.graph_trace",
    "training": "explorer.training",
    "stepper": "explorer.training.stepper",
    "evaluation": "explorer.training.evaluation",
    "zoo": "explorer.zoo",
    "architectures": "explorer.zoo.architectures",
    "generators": "explorer.inversion.generators",
    "sparse_recovery": "explorer.inverse.sparse_recovery",
    "reconstruction": "explorer.inverse.reconstruction",
    "orthogonal": "explorer.spectra.orthogonal",
}

__getattr__, __dir__ = forward("explorer.models", None, _MOVED)
