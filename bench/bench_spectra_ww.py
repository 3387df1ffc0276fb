"""WeightWatcher's pooled view of a resnet18-sized model: ours against WeightWatcher 0.7.7.

Model: a ResNet-18 built here (torchvision's layout: 7x7 stem, four stages of two basic
blocks, 64-128-256-512 channels, 1x1 downsampling convs, a 512 -> 1000 head), random
weights (seed 0): 21 conv layers and 1 linear, 11.7 M weights, 31,635 pooled eigenvalues.

- Ours: ``spectra.quality_report(model, mp_fit=False, randomize=False)``: the slice-pooled
  ESD of every layer, the power-law fit over every xmin, the norm metrics and warnings. The
  true operator spectra (1.83 M singular values at 224x224) are not computed: that view is
  ``spectra.model_spectra``, on request.
- Baseline: ``weightwatcher.WeightWatcher(model=model).analyze()`` with its defaults (the
  same numbers), timed alternately with ours in this process, one BLAS / torch thread each.
  WeightWatcher is an optional bench dependency (``pip install network-explorer[bench]``);
  without it, our time is printed and the ratio skipped.

Target: ours / WeightWatcher <= 2. Also printed: the largest difference of alpha and
log_norm between the two (they compute the same numbers).

Run: ``python -m bench spectra_ww``; the headline is the last line.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from contextlib import redirect_stdout

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from explorer import spectra


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convs with BatchNorm, a 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


def resnet18(num_classes: int = 1000) -> nn.Module:
    """A ResNet-18 with torchvision's layer names and shapes (torchvision is not a dependency)."""
    model = nn.Module()
    model.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
    model.bn1 = nn.BatchNorm2d(64)
    widths, c_in = (64, 128, 256, 512), 64
    for i, width in enumerate(widths, 1):
        stride = 1 if i == 1 else 2
        setattr(model, f"layer{i}", nn.Sequential(BasicBlock(c_in, width, stride), BasicBlock(width, width, 1)))
        c_in = width
    model.fc = nn.Linear(512, num_classes)
    return model.eval()


def main() -> None:
    torch.manual_seed(0)
    model = resnet18()
    torch.set_num_threads(1)
    ours_fn = lambda: spectra.quality_report(model, mp_fit=False, randomize=False)  # noqa: E731
    try:
        import weightwatcher
    except ImportError:
        weightwatcher = None
    with threadpool_limits(1):
        if weightwatcher is None:
            start = time.perf_counter()
            ours = ours_fn()
            t_ours = time.perf_counter() - start
            print(f"spectra_ww: pooled view of resnet18 ({len(ours.layers)} layers) {t_ours:.2f} s; "
                  "weightwatcher is not installed (pip install network-explorer[bench]): ratio skipped")
            return
        logging.getLogger("weightwatcher").setLevel(logging.ERROR)
        warnings.simplefilter("ignore")

        def ww_fn():
            with redirect_stdout(io.StringIO()):
                return weightwatcher.WeightWatcher(model=model).analyze()

        best = [float("inf"), float("inf")]
        for _ in range(2):
            for i, fn in enumerate((ww_fn, ours_fn)):
                start = time.perf_counter()
                result = fn()
                best[i] = min(best[i], time.perf_counter() - start)
                if i == 0:
                    details = result
                else:
                    ours = result
    t_ww, t_ours = best
    rows = {name: row for name, row in zip(details["longname"], details.to_dict("records"))} \
        if "longname" in details else {}
    diffs = {"alpha": 0.0, "log_norm": 0.0}
    for layer in ours.layers:
        row = rows.get(layer.name)
        if row is None:
            continue
        for key in diffs:
            diffs[key] = max(diffs[key], abs(row[key] - getattr(layer, key)) / max(1.0, abs(row[key])))
    n_evals = sum(layer.num_evals for layer in ours.layers)
    print(f"layers: ours {len(ours.layers)}, WeightWatcher {len(details)}; {n_evals:,} pooled eigenvalues; "
          f"largest relative difference alpha {diffs['alpha']:.1e}, log_norm {diffs['log_norm']:.1e}")
    print(f"ours {t_ours:.2f} s, WeightWatcher 0.7.7 analyze() {t_ww:.2f} s")
    ratio = t_ours / t_ww
    verdict = "met" if ratio <= 2 else "NOT met"
    print(f"spectra_ww: pooled view of resnet18 {t_ours:.2f} s = {ratio:.2f} x WeightWatcher's analyze() "
          f"({t_ww:.2f} s; one thread each); target <= 2 {verdict}; same numbers to {max(diffs.values()):.0e}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
