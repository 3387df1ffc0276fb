"""Exact 2-D partitions at the size of real networks, against the arithmetic floor (issue 30).

Every case runs in a fresh subprocess (one thread, float64) and reports:

- regions and the partition's time (``regions.partition_plane``, everything it computes), as the
  process's CPU time (one thread: the work itself, whatever else the machine runs; the wall time
  is printed next to it);
- the *floor*: per layer, the regions entering that layer times the cost of that layer applied to
  the 3 vectors of the plane's affine map (origin and two directions), timed by running exactly
  those layer applications batched in torch (each Linear / Conv2d / AvgPool2d module of the model
  on ``3 x regions`` copies of its input on the plane, in batches of bounded size, scaled to the
  whole count); a module is charged the regions entering the first piecewise-linear layer after
  it (the activation modules seen before it count the layers; ``graph.layers`` are in that order);
- measured / floor, the peak RSS of the process, and the *kept* memory per region: the bytes of
  every array and container the returned :class:`~explorer.regions.Partition` holds (the network
  excluded), divided by the number of regions;
- the grid lower bound (``regions.grid_estimate`` at 128 x 128) next to the exact count: it must
  never exceed it.

Cases: spirals-mlp (zoo) on its data's box; random-weight MLPs 2-128-128-128-1, 2-256-256-256-1,
2-512-512-1 on [-1, 1]^2 (``torch.manual_seed(0)``, PyTorch's default init); digits-resnet (zoo) on the
plane through test digits 0, 1, 2; LeNet-5 for 28 x 28 inputs (random weights) on the plane through
3 synthetic digit-like images (Gaussian strokes on a zero background), and on that triangle shrunk 10
times about its centroid (lenet28sub, the same net: a case that finishes); 2-512-512-512-1 on [-8, 8]^2
(a million regions or more).
``REGIONS_FLOOR_CASES=mlp128,spirals`` picks cases by name (the names below);
``REGIONS_FLOOR_TIMEOUT`` (seconds, default 900) stops a case; ``REGIONS_FLOOR_MEM_GB`` (default 20)
caps each case's address space, so a case that would need more fails instead of swapping.

Targets: every MLP case at most 3x its floor, at most 4 KB kept per region.
Run: ``python -m bench regions_floor``. The last line is the figure.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ["spirals", "mlp128", "mlp256", "mlp512x2", "resnet", "lenet28sub", "lenet28", "mlp512x3"]
MLP_CASES = {"spirals", "mlp128", "mlp256", "mlp512x2", "mlp512x3"}
TITLES = {"spirals": "spirals-mlp (3x64)", "mlp128": "MLP 2-128-128-128-1", "mlp256": "MLP 2-256-256-256-1",
          "mlp512x2": "MLP 2-512-512-1", "resnet": "digits-resnet, 3 digits", "lenet28": "LeNet-5 28x28, 3 images",
          "lenet28sub": "LeNet-5 28x28, sub-triangle 0.1",
          "mlp512x3": "MLP 2-512-512-512-1, box 16"}
BUDGET = 2 ** 34  # max_regions: 16 GiB as a memory budget, or no limit as a count (the engine before issue 30)
FLOOR_ROWS_BYTES = 32 * 2 ** 20  # each timed batch holds at most this much input
SUB_SCALE = 0.1  # lenet28sub: the LeNet plane's triangle shrunk this much (a case that finishes in seconds)


def _mlp(widths, seed=0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], 1)).double().eval()


def _lenet28(seed=0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)).double().eval()


def _strokes(count, seed=0):
    """Digit-like 28 x 28 images: four Gaussian blobs (2-pixel spread) in the middle, peak 1, zero around."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    images = []
    for _ in range(count):
        im = sum(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.5) for cy, cx in rng.uniform(6, 22, (4, 2)))
        images.append((im / im.max()).ravel())
    return np.stack(images)


def build(case: str):
    """The case's model and plane ``(origin, directions, polygon)``."""
    import numpy as np

    from explorer import datasets, regions, zoo
    from explorer.training import evaluation

    square = (np.zeros(2), np.eye(2))
    if case == "spirals":
        data = datasets.load("spirals")
        box = evaluation.data_box(np.concatenate([data.X_train, data.X_test]))
        return zoo.load("spirals-mlp").double(), (*square, regions.box_polygon(*box))
    if case.startswith("mlp"):
        widths = {"mlp128": [2, 128, 128, 128], "mlp256": [2, 256, 256, 256], "mlp512x2": [2, 512, 512],
                  "mlp512x3": [2, 512, 512, 512]}[case]
        side = 8.0 if case == "mlp512x3" else 1.0
        return _mlp(widths), (*square, regions.box_polygon(-side, side, -side, side))
    if case == "resnet":
        return zoo.load("digits-resnet").double(), tuple(regions.plane_through(datasets.load("digits").X_test[:3]))
    if case in ("lenet28", "lenet28sub"):
        origin, directions, polygon = regions.plane_through(_strokes(3))
        if case == "lenet28sub":  # the triangle shrunk 10 times about its centroid
            polygon = polygon.mean(0) + SUB_SCALE * (polygon - polygon.mean(0))
        return _lenet28(), (origin, directions, polygon)
    raise ValueError(f"Unknown case {case!r}; cases: {CASES}")


def floor_seconds(model, plane, entering: list) -> float:
    """The arithmetic floor: every affine module applied to 3 vectors per region entering its layer."""
    import torch
    from torch import nn

    origin, directions, _ = plane
    x3 = torch.as_tensor(__import__("numpy").vstack([origin, directions]), dtype=torch.float64)
    affine, seen, hooks = [], [0], []
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.AvgPool2d)):
            hooks.append(module.register_forward_pre_hook(
                lambda m, args: affine.append((m, args[0].detach().clone(), seen[0]))))
        elif isinstance(module, (nn.ReLU, nn.LeakyReLU, nn.MaxPool2d, nn.Hardtanh, nn.PReLU)):
            hooks.append(module.register_forward_hook(lambda m, args, out: seen.__setitem__(0, seen[0] + 1)))
    with torch.no_grad():
        model(x3)
    for h in hooks:
        h.remove()
    total = 0.0
    with torch.no_grad():
        for module, x, layer in affine:
            rows = 3 * entering[min(layer, len(entering) - 1)]
            batch = max(3, min(rows, FLOOR_ROWS_BYTES // (8 * x[0].numel())))
            xb = x[torch.arange(batch) % 3].contiguous()
            module(xb)
            best = float("inf")
            for _ in range(3):
                start = time.process_time()
                module(xb)
                best = min(best, time.process_time() - start)
            total += best * rows / batch
    return total


def kept_bytes(obj) -> int:
    """Bytes of the arrays and containers reachable from ``obj`` (each array's memory once; no networks: neither
    the graph nor its layers, whose dense matrices the store's layer list reaches)."""
    import numpy as np

    from explorer.nets import Layer, PLGraph

    seen, bases, total, stack = set(), set(), 0, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, (PLGraph, Layer, type)) or callable(o):  # the network's layers too
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            base = o
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in bases:
                bases.add(id(base))
                total += base.nbytes
            continue
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack += list(o.values())
        elif isinstance(o, (list, tuple, set)):
            stack += list(o)
        elif hasattr(o, "__dict__"):
            stack += list(vars(o).values())
        elif hasattr(o, "__slots__"):
            stack += [getattr(o, s) for s in o.__slots__ if hasattr(o, s)]
    return total


def run_case(case: str) -> dict:
    """Partition one case in this process; the figures as a dict."""
    import gc

    import torch

    from explorer import regions

    torch.set_num_threads(1)
    from explorer.nets import canonical
    from explorer.nets.threads import single_threaded

    with single_threaded():  # its one scan of the loaded libraries, paid once per process, not timed
        pass
    model, plane = build(case)
    graph = canonical(model, input_shape=(len(plane[0]),)).graph()  # the torch model's canonical form, not timed
    start, cpu = time.perf_counter(), time.process_time()
    part = regions.partition_plane(graph, *plane, max_regions=BUDGET)
    seconds, wall = time.process_time() - cpu, time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    gc.collect()
    kept = kept_bytes(part)
    entering = [layer.num_regions for layer in part.layers]
    floor = floor_seconds(model, plane, entering)
    lo, hi = plane[2].min(0), plane[2].max(0)
    grid = regions.grid_estimate(graph, (lo[0], hi[0], lo[1], hi[1]), resolution=128, origin=plane[0],
                                 directions=plane[1], polygon=plane[2]).count
    return dict(case=case, regions=part.num_regions, seconds=seconds, wall=wall, floor=floor, peak=peak, kept=kept,
                grid=grid)


def _child(case: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    limit = float(os.environ.get("REGIONS_FLOOR_MEM_GB", "20")) * 2 ** 30
    timeout = float(os.environ.get("REGIONS_FLOOR_TIMEOUT", "900"))

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))

    try:
        out = subprocess.run([sys.executable, "-m", "bench.bench_regions_floor", case], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=timeout, preexec_fn=cap)
    except subprocess.TimeoutExpired:
        return dict(case=case, error=f"stopped after {timeout:.0f} s")
    if out.returncode:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return dict(case=case, error=last[:100])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    chosen = [c.strip() for c in os.environ.get("REGIONS_FLOOR_CASES", ",".join(CASES)).split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        raise ValueError(f"Unknown case(s) {unknown}; cases: {CASES}")
    print(f"{'case':30s} {'regions':>10s} {'cpu s':>8s} {'wall s':>7s} {'us/reg':>7s} {'floor s':>8s} {'x floor':>7s} "
          f"{'peak GB':>7s} {'KB/reg':>7s} {'grid128':>8s}", flush=True)
    worst, largest = 0.0, 0.0
    for case in chosen:
        r = _child(case)
        if "error" in r:
            print(f"{TITLES[case]:30s} {r['error']}", flush=True)
            if case in MLP_CASES:
                worst = float("inf")
            continue
        ratio, kb = r["seconds"] / r["floor"], r["kept"] / r["regions"] / 1024
        if case in MLP_CASES:
            worst = max(worst, ratio)
        largest = max(largest, kb)
        ok = "" if r["grid"] <= r["regions"] else "  GRID > EXACT"
        us = 1e6 * r["seconds"] / r["regions"]
        print(f"{TITLES[case]:30s} {r['regions']:10,d} {r['seconds']:8.2f} {r['wall']:7.2f} {us:7.1f} "
              f"{r['floor']:8.3f} {ratio:7.1f} {r['peak'] / 2 ** 30:7.2f} {kb:7.2f} {r['grid']:8,d}{ok}", flush=True)
    print(f"regions_floor: worst MLP measured/floor {worst:.1f}x (target <= 3), largest kept memory "
          f"{largest:.2f} KB/region (target <= 4)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(run_case(sys.argv[1])))
    else:
        main()
