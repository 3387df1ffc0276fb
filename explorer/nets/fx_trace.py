"""``torch.fx.symbolic_trace`` that other threads can run modules beside.

While ``torch.fx`` traces a module it replaces ``torch.nn.Module.__call__`` and ``__getattr__``
for the whole process, and any module called meanwhile, in any thread, is sent to the tracer:
the served app's other sessions then fail with ``NameError: module is not installed as a
submodule`` (seen when one session's uploaded model was traced while another session evaluated
its own). :class:`ThreadSafeTracer` hands the calls of every thread but its own back to the
module unchanged, and traces one at a time: two traces at once in two threads undo each other's
patches (``AssertionError: CURRENT_PATCHER is None``, seen when a notebook's Linear regions counts
traced a LeNet for the partition and for the grid estimate in two threads).
"""

from __future__ import annotations

import threading

from torch import fx, nn

__all__ = ["ThreadSafeTracer", "symbolic_trace"]

# one trace at a time in the process: torch.fx's patches are global (re-entrant: a trace may read a submodule's)
_ONE_TRACE_AT_A_TIME = threading.RLock()


class ThreadSafeTracer(fx.Tracer):
    """An ``fx.Tracer`` that records only its own thread's module calls and attribute reads.

    Calls from other threads during a trace (the patched ``Module.__call__`` reaches every
    thread) run the module as if no trace were under way. A trace started while another thread
    traces waits for it to end.

    References
    ----------
    torch.fx's ``Tracer.trace`` patches ``torch.nn.Module.__call__`` and ``__getattr__`` through
    its ``_Patcher`` for the duration of a trace (``torch/fx/_symbolic_trace.py``).

    Examples
    --------
    >>> tracer = ThreadSafeTracer()
    >>> graph = tracer.trace(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    >>> [node.op for node in graph.nodes]
    ['placeholder', 'call_module', 'call_module', 'output']
    """

    def trace(self, root, concrete_args=None):
        """Trace ``root`` on the calling thread (see ``torch.fx.Tracer.trace``).

        Parameters
        ----------
        root : nn.Module or callable
            What to trace.
        concrete_args : dict, optional
            Inputs not to treat as symbolic (as in ``torch.fx.Tracer.trace``).

        Returns
        -------
        torch.fx.Graph
            The graph of ``root``'s forward pass.
        """
        with _ONE_TRACE_AT_A_TIME:
            self._tracing_thread = threading.get_ident()
            return super().trace(root, concrete_args)

    def call_module(self, m, forward, args, kwargs):
        """Record the call of ``m`` when it comes from the tracing thread; else run it.

        Parameters
        ----------
        m : nn.Module
            The module called.
        forward : callable
            Its unpatched call.
        args, kwargs : tuple, dict
            The call's arguments.

        Returns
        -------
        object
            A proxy for the module's output (tracing thread) or the output itself.
        """
        if threading.get_ident() != getattr(self, "_tracing_thread", None):
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        """An attribute of a module as the trace sees it (tracing thread) or as it is.

        Parameters
        ----------
        attr : str
            The attribute's name.
        attr_val : object
            Its value.
        parameter_proxy_cache : dict
            The tracer's proxies of parameters read so far.

        Returns
        -------
        object
            A proxy (for a parameter read while tracing) or ``attr_val``.
        """
        if threading.get_ident() != getattr(self, "_tracing_thread", None):
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def symbolic_trace(model: nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace(model)`` through a :class:`ThreadSafeTracer`.

    Parameters
    ----------
    model : nn.Module
        The module to trace.

    Returns
    -------
    torch.fx.GraphModule
        The traced module, named after ``model``'s class.

    Examples
    --------
    >>> gm = symbolic_trace(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    >>> type(gm).__name__, len(list(gm.graph.nodes))
    ('Sequential', 4)
    """
    tracer = ThreadSafeTracer()
    graph = tracer.trace(model)
    return fx.GraphModule(tracer.root, graph, type(model).__name__)
