"""explorer.nets.fx_trace: a trace under way in one thread leaves every other thread's modules alone."""

import threading
import time

import pytest
import torch
from torch import fx, nn

from explorer.nets.fx_trace import symbolic_trace


class SlowToTrace(nn.Module):
    """A module whose forward pass waits, so that a trace of it lasts long enough to meet other threads."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        time.sleep(0.4)
        return torch.relu(self.fc(x))


def _calls_during_a_trace(trace) -> list:
    """What another thread's calls of an unrelated module give while ``trace`` runs: outputs or errors."""
    torch.manual_seed(0)
    other, x = nn.Sequential(nn.Linear(2, 3), nn.ReLU()), torch.randn(4, 2)
    expected = other(x)
    outcomes, tracing = [], threading.Thread(target=trace, args=(SlowToTrace(),))
    tracing.start()
    while tracing.is_alive():
        try:
            outcomes.append(torch.equal(other(x), expected))
        except Exception as exc:  # what torch.fx's own trace does to the other thread
            outcomes.append(exc)
        time.sleep(0.01)
    tracing.join()
    return outcomes


def test_torch_fx_alone_breaks_the_other_threads_modules():
    # the failure this module exists for, so the test below can fail: skipped once torch stops it
    outcomes = _calls_during_a_trace(fx.symbolic_trace)
    if all(o is True for o in outcomes):
        pytest.skip("this torch's fx trace no longer reaches other threads' module calls")
    assert any(isinstance(o, NameError) and "not installed as a submodule" in str(o) for o in outcomes)


def test_other_threads_run_their_modules_while_a_trace_is_under_way():
    outcomes = _calls_during_a_trace(symbolic_trace)
    assert len(outcomes) > 5 and all(o is True for o in outcomes)


def test_the_trace_equals_torch_fx_s_own():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    ours, theirs = symbolic_trace(model), fx.symbolic_trace(model)
    assert [(n.op, str(n.target)) for n in ours.graph.nodes] == [(n.op, str(n.target)) for n in theirs.graph.nodes]
    x = torch.randn(8, 2)
    assert torch.equal(ours(x), model(x))


@pytest.mark.parametrize("attribute", ["weight", "bias"])
def test_other_threads_read_parameters_as_they_are(attribute):
    torch.manual_seed(2)
    other = nn.Linear(2, 2)
    seen, tracing = [], threading.Thread(target=symbolic_trace, args=(SlowToTrace(),))
    tracing.start()
    while tracing.is_alive():
        seen.append(getattr(other, attribute) is other._parameters[attribute])
        time.sleep(0.01)
    tracing.join()
    assert seen and all(seen)


def test_two_threads_tracing_at_once_each_get_their_own_graph():
    # torch.fx's patches are global: two traces at once undid each other's (CURRENT_PATCHER is None, or a module
    # "not installed as a submodule"), seen when the Linear regions counts traced a LeNet in two threads
    results, errors = {}, []

    def trace(name, model):
        try:
            results[name] = symbolic_trace(model)
        except Exception as exc:
            errors.append(exc)

    torch.manual_seed(3)
    models = {"slow": SlowToTrace(), "other": nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 2))}
    # each trace starts while the one before it runs, and ends after it (the slow ones sleep 0.4 s while traced)
    threads = [threading.Thread(target=trace, args=item) for item in [("slow", models["slow"]),
                                                                      ("slow again", SlowToTrace()),
                                                                      ("other", models["other"])]]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert errors == []
    x = torch.randn(3, 2)
    assert torch.equal(results["other"](x), models["other"](x)) and torch.equal(results["slow"](x), models["slow"](x))
    assert [n.op for n in results["other"].graph.nodes] == ["placeholder", *["call_module"] * 3, "output"]
