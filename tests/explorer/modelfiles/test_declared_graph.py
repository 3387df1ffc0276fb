"""Hostile graph specs (explorer.modelfiles.declared_graph): refused from the numbers they declare, the
node named, before anything is allocated."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest
import torch

from explorer import nets, zoo
from explorer.data import messages
from explorer.modelfiles import checkpoints

# --- hostile graph specs: refused from the numbers they declare ------------------------------------

def _graph_file(graph, input_shape, state) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": zoo.FORMAT, "version": 2, "graph": graph, "input_shape": input_shape,
                "class_names": [], "state_dict": state}, buffer)
    return buffer.getvalue()


def _conv(name, c_in, c_out, k, source="input", **extra):
    return {"name": name, "type": "conv2d", "in": c_in, "out": c_out, "kernel": [k, k], "stride": [1, 1],
            "padding": [0, 0], "dilation": [1, 1], "groups": 1, "padding_mode": "zeros", "bias": True,
            "inputs": [source], **extra}


def _head(source, n_in):
    return [{"name": "flat", "type": "flatten", "inputs": [source]},
            {"name": "fc", "type": "linear", "in": n_in, "out": 2, "bias": True, "inputs": ["flat"]}]


HOSTILE_GRAPHS = {
    "negative channel count": (lambda: _graph_file([_conv("c", 1, -4, 3), *_head("c", 4)], [1, 8, 8],
                                                   {"w": torch.zeros(3)}),
                               r"Node 0 \('c', conv2d\): out must be an integer >= 1; the file says -4"),
    "huge conv": (lambda: _graph_file([_conv("c", 64, 4096, 64), *_head("c", 4096)], [64, 64, 64],
                                      {"w": torch.zeros(3)}),
                  r"nodes up to Node 0 \('c', conv2d\) declare 1,073,745,920 weights; the limit"),
    "unknown input name": (lambda: _graph_file([_conv("c", 1, 2, 3, source="x"), *_head("c", 72)], [1, 8, 8],
                                               {"w": torch.zeros(200)}),
                           r"Node 0 \('c', conv2d\) reads 'x', which is not 'input' nor an earlier node"),
    "input from a later node": (lambda: _graph_file([_conv("c", 1, 2, 3, source="flat"), *_head("c", 72)],
                                                    [1, 8, 8], {"w": torch.zeros(200)}), "not 'input' nor an earlier"),
    "add of two shapes": (lambda: _graph_file([_conv("c", 1, 2, 3), {"name": "s", "type": "add",
                                                                     "inputs": ["c", "input"]}, *_head("s", 72)],
                                              [1, 8, 8], {"w": torch.zeros(200)}), "adds two or more inputs of one"),
    "huge activation": (lambda: _graph_file([_conv("c", 1, 64, 1), *_head("c", 64_000_000)], [1, 1000, 1000],
                                            {"w": torch.zeros(200)}), "outputs 64,000,000 values per sample"),
    "unknown type": (lambda: _graph_file([{"name": "t", "type": "mish", "inputs": ["input"]}], [2], {}),
                     "type 'mish' is not supported"),
    "duplicate name": (lambda: _graph_file([_conv("c", 1, 2, 3), _conv("c", 2, 2, 3, source="c")], [1, 8, 8],
                                           {"w": torch.zeros(200)}), "the name must be a new identifier"),
    "name of 300,000 characters": (lambda: _graph_file([_conv("n" * 300_000, 1, 2, 3), *_head("c", 72)], [1, 8, 8],
                                                       {"w": torch.zeros(200)}),
                                   r"Node 0 \('nnnn*…', conv2d\): the name must be a new identifier"),
    "type of 300,000 characters": (lambda: _graph_file([{"name": "t", "type": "t" * 300_000, "inputs": ["input"]}],
                                                       [2], {}), r"Node 0 \('t', tttt*…\): type 'tttt*…' is not"),
    "4,097 nodes": (lambda: _graph_file([_conv("c", 1, 2, 3)] * 4097, [1, 8, 8], {}),
                    "The graph has 4,097 nodes; the limit is 4,096"),
    "an add of 100,000 inputs": (lambda: _graph_file([{"name": "s", "type": "add", "inputs": ["input"] * 100_000}],
                                                     [2], {}),
                                 r"Node 0 \('s', add\): inputs must be a list of 1 to 256 node names; the file "
                                 r"says \['input', 'input', "),
    "a reshape to 100,000 sizes": (lambda: _graph_file([{"name": "r", "type": "reshape", "shape": [1] * 100_000,
                                                         "inputs": ["input"]}], [2], {}),
                                   r"shape must list 1 to 3 sizes; the file says \[1, 1, 1, 1, 1, 1, \.\.\.\]"),
}


@pytest.mark.parametrize("case", HOSTILE_GRAPHS)
def test_hostile_graph_specs_are_refused_with_the_node_named(case, monkeypatch):
    """Each is refused naming the node, in a bounded message, before any module is built."""
    make, message = HOSTILE_GRAPHS[case]
    monkeypatch.setattr(checkpoints, "GraphModel", lambda *args, **kwargs: pytest.fail("a model was built"))
    with pytest.raises((zoo.CheckpointError, nets.UnsupportedLayerError), match=message) as refusal:
        zoo.load_file(make())
    assert len(str(refusal.value)) <= messages.MAX_MESSAGE_CHARS


def test_graph_refusals_allocate_almost_nothing(tmp_path):
    """Peak memory of loading every hostile graph file, in a fresh interpreter: under 150 MB over the baseline."""
    files = []
    for i, (make, _) in enumerate(HOSTILE_GRAPHS.values()):
        files.append(tmp_path / f"hostile-{i}.pt")
        files[-1].write_bytes(make())
    code = textwrap.dedent("""
        import resource, sys
        from explorer import nets, zoo
        zoo.load_file(zoo.DATA_DIR / zoo.card("digits-resnet")["file"])  # warm up the loader's imports
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for path in sys.argv[1:]:
            try:
                zoo.load_file(path)
            except (zoo.CheckpointError, nets.UnsupportedLayerError):
                pass
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True, check=True)
    assert float(out.stdout.decode().strip().splitlines()[-1]) < 150
