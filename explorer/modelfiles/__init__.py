"""The model-file format: checkpoints (weights_only), graph specs, and every size a file declares checked first.

- :mod:`~explorer.modelfiles.checkpoints`     ``save``, ``load_file``, ``spec_of``, ``model_from_spec``
- :mod:`~explorer.modelfiles.declared_sizes`  the limits, and the size checks of archives, tensors and layer specs
- :mod:`~explorer.modelfiles.declared_graph`  ``check_graph``: the same checks for graph specs, node by node
- :mod:`~explorer.modelfiles.graph_spec`      graph specs and ``GraphModel``, the module that runs one
- :mod:`~explorer.modelfiles.graph_trace`     ``graph_spec_of``: the graph spec of a module, read with torch.fx
- :mod:`~explorer.modelfiles.onnx_files`      ONNX files (any framework's export): ``is_onnx``, ``checkpoint_of``,
  the version-2 checkpoint an ONNX graph translates to; ``load_file`` reads an ``.onnx`` file, told by its
  content, like any checkpoint (:mod:`~explorer.modelfiles.onnx_graph`, ``onnx_tensors``, ``onnx_elementwise``)

Imports :mod:`explorer.nets` and :mod:`explorer.data` (the quoting of messages, the limits on classes
and inputs that datasets share).
"""

from . import checkpoints, declared_graph, declared_sizes, graph_spec, graph_trace

__all__ = ["checkpoints", "declared_sizes", "declared_graph", "graph_spec", "graph_trace"]
