"""Reading a 60,000-image MNIST-format set: ``datasets.mnist_from_files`` against ``numpy.load``.

Generates MNIST's shapes (60,000 train and 10,000 test 28x28 byte images with their
labels, seeded random pixels) once in a temporary folder, as IDX files (raw and gzipped)
and as ``.npy`` files of the same arrays. Times, best of several interleaved runs on one
thread, (a) our reader on the raw IDX files, which checks the headers, reads the bytes,
scales the pixels to float32 in [0, 1] and builds the Dataset; (b) the same on the
gzipped files; (c) the baseline, ``numpy.load`` of the ``.npy`` files of the same byte arrays
(no scaling); (d) ``numpy.load`` of the float32 arrays the Dataset ends up holding; and the
peak memory each allocates (tracemalloc, which numpy reports to). Prints (a) / (c), then
(a) / (d) on its last line: the Dataset's inputs are float32 in [0, 1], so the scaling that
(c) skips (about 4x the byte load alone, measured) is work every reader of the set must do.
Also prints the seconds from the uploaded bytes to the Overview's first render in a new session.
Run: ``python -m bench datasets``.
"""

from __future__ import annotations

import gzip
import struct
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from explorer import datasets
from explorer.nets.threads import single_threaded

REPEATS = 5
SHAPES = {"train": 60_000, "t10k": 10_000}


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)


def generate(folder: Path) -> dict:
    rng = np.random.default_rng(0)
    files = {"raw": [], "gz": [], "npy": []}
    for split, n in SHAPES.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            for compress, key in ((False, "raw"), (True, "gz")):
                path = folder / f"{split}-{kind}{'.gz' if compress else ''}"
                write_idx(path, array, compress)
                files[key].append(path)
            np.save(folder / f"{split}-{kind}.npy", array)
            files["npy"].append(folder / f"{split}-{kind}.npy")
    return files


def measure(fn, repeats: int = REPEATS) -> tuple[float, int]:
    """(best seconds, peak bytes allocated) of fn()."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak


def overview_first_render(raw: list[Path]) -> float:
    """Seconds from the upload's bytes to the Overview's rendered page (gallery, sample, probabilities,
    confusion matrix) in a fresh session: reading the files, the dataset card, evaluating the test split."""
    import panel as pn
    import torch
    from torch import nn

    from dashboard.state import AppState
    from dashboard.tabs.overview.view import OverviewView
    from dashboard.views.model_picker import ModelPicker
    from explorer import zoo

    pn.extension()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    with tempfile.TemporaryDirectory() as tmp:
        zoo.save(model, Path(tmp) / "mlp.pt", input_shape=(1, 28, 28))
        checkpoint = (Path(tmp) / "mlp.pt").read_bytes()
    files = {p.name: p.read_bytes() for p in raw}
    start = time.perf_counter()
    state = AppState()
    state.add_dataset(files)
    state.add_upload("mlp.pt", checkpoint)
    pn.Column(ModelPicker(state=state), OverviewView(state=state)).get_root()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, single_threaded():
        files = generate(Path(tmp))
        raw, gz = files["raw"], files["gz"]
        ds = datasets.mnist_from_files(raw[0], raw[1], raw[2], raw[3])
        assert ds.X_train.shape == (60_000, 784) and ds.X_test.shape == (10_000, 784)
        assert np.array_equal(np.round(ds.X_test[5] * 255).astype(np.uint8), np.load(files["npy"][2])[5].ravel())
        float32 = []
        for i, array in enumerate((ds.X_train, ds.y_train, ds.X_test, ds.y_test)):
            float32.append(Path(tmp) / f"dataset-{i}.npy")
            np.save(float32[-1], array)
        timings = {}
        for _ in range(2):  # interleaved, so that neither side gets a warmer cache
            timings["ours (raw IDX)"] = measure(lambda: datasets.mnist_from_files(raw[0], raw[1], raw[2], raw[3]))
            timings["numpy.load (.npy)"] = measure(lambda: [np.load(p) for p in files["npy"]])
            timings["numpy.load (float32)"] = measure(lambda: [np.load(p) for p in float32])
        timings["ours (gzipped IDX)"] = measure(lambda: datasets.mnist_from_files(gz[0], gz[1], gz[2], gz[3]), 2)
        for name, (seconds, peak) in timings.items():
            print(f"{name:20s} {seconds * 1e3:8.1f} ms   peak {peak / 2**20:7.1f} MB allocated")
        print(f"(the float32 Dataset holds {(ds.X_train.nbytes + ds.X_test.nbytes) / 2**20:.0f} MB; "
              f"the byte arrays {sum(p.stat().st_size for p in files['npy']) / 2**20:.0f} MB)")
        try:
            seconds = overview_first_render(gz)
            print(f"the Overview's first render on this set (gzipped upload) with a 784-32-10 MLP: {seconds:.2f} s")
        except datasets.DatasetError as exc:  # random pixels do not compress under the upload limit
            print(f"the Overview's first render: not measured here ({exc})")
        ours = timings["ours (raw IDX)"][0]
        print(f"ours / numpy.load of the same byte arrays (no scaling to float32) = "
              f"{ours / timings['numpy.load (.npy)'][0]:.2f}x")
        print(f"reading 60,000 + 10,000 MNIST-format images: ours / numpy.load of the float32 arrays the "
              f"Dataset holds = {ours / timings['numpy.load (float32)'][0]:.2f}x")


if __name__ == "__main__":
    main()
