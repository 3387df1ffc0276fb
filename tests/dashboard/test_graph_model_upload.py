"""Any model ``zoo.save`` writes uploads and takes the app's flat vectors: chains and graphs, with a
flat or an image input shape (issue 31: a residual MaxPool CNN saved with ``input_shape=(1, 8, 8)``
was refused with "It could not be read (TypeError)").

Known answers: the uploaded model computes the saved model on the reshaped vectors (float64, 1e-12);
on the residual MaxPool CNN each exact region's affine map is the forward pass at its centroid, a
box of one point leaves no unit unproven, the first conv's singular values are those of its dense
operator built column by column, and DeepFool's adversarial points change the predicted class.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dashboard import services
from explorer import attacks, datasets, nets, regions, spectra, stability, zoo
from explorer.modelfiles.graph_spec import GraphModel

CLASS_NAMES = [f"digit {k}" for k in range(10)]


class ResidualMaxPoolCNN(nn.Module):
    """A model written the usual PyTorch way for 1 x 8 x 8 images: a conv stem, a residual block
    ``h + conv2(relu(conv1(h)))``, 2 x 2 max pooling and a linear head for 10 classes."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(channels * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))
        h = h + self.conv2(F.relu(self.conv1(h)))
        return self.head(torch.flatten(self.pool(h), 1))


def saved_residual_cnn(path) -> bytes:
    """The README's recipe: ``zoo.save(model, path, input_shape=(1, 8, 8))`` (seeded weights)."""
    torch.manual_seed(0)
    return zoo.save(ResidualMaxPoolCNN().eval(), path, input_shape=(1, 8, 8), class_names=CLASS_NAMES).read_bytes()


# (model, input shape, whether zoo.save writes a graph)
KINDS = {
    "chain, flat": (lambda: nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), (64,), False),
    "chain, image": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                           nn.Linear(128, 10)), (1, 8, 8), False),
    "graph, flat": (lambda: nn.Sequential(nn.Linear(64, 16), nn.LeakyReLU(0.1), nn.Linear(16, 10)), (64,), True),
    "graph, image": (ResidualMaxPoolCNN, (1, 8, 8), True),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_zoo_save_writes_uploads_for_flat_vectors(kind, tmp_path):
    make, shape, graph = KINDS[kind]
    torch.manual_seed(0)
    model = make().eval()
    data = zoo.save(model, tmp_path / "m.pt", input_shape=shape, class_names=CLASS_NAMES).read_bytes()
    assert isinstance(zoo.load_file(data), GraphModel) == graph
    uploaded = services.uploaded_model(data)
    assert uploaded.input_shape == (64,) and uploaded.class_names == CLASS_NAMES
    x = torch.rand(5, 64, dtype=torch.float64)
    with torch.no_grad():
        got = copy.deepcopy(uploaded).double()(x)
        want = copy.deepcopy(model).double()(x.reshape(5, *shape))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert services.fits(uploaded, datasets.load("digits"))


@pytest.fixture(scope="module")
def uploaded_cnn(tmp_path_factory):
    return services.uploaded_model(saved_residual_cnn(tmp_path_factory.mktemp("upload") / "cnn.pt"))


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


def test_the_uploaded_cnn_gets_exact_regions_through_three_digits(uploaded_cnn, digits):
    assert isinstance(nets.canonical(uploaded_cnn), nets.GraphNet)
    plane = regions.plane_through(digits.X_test[:3])
    part = regions.partition_plane(uploaded_cnn, *plane)
    assert part.num_regions > 1
    points = plane.origin + part.centroids @ plane.directions
    with torch.no_grad():
        forward = copy.deepcopy(uploaded_cnn).double()(torch.as_tensor(points)).numpy()
    maps = np.einsum("rkj,rj->rk", part.output_A, part.centroids) + part.output_c
    np.testing.assert_allclose(maps, forward, atol=1e-9)


def test_the_uploaded_cnn_gets_stable_units(uploaded_cnn, digits):
    x = digits.X_test[0].astype(np.float64)
    point = stability.stable_units(uploaded_cnn, (x, x), method="crown")
    assert all(np.isin(s, (stability.INACTIVE, stability.ACTIVE, stability.STABLE)).all() for s in point.status)
    ball = stability.stable_units(uploaded_cnn, (np.clip(x - 0.3, 0, 1), np.clip(x + 0.3, 0, 1)), method="ibp")
    assert sum((s == stability.UNKNOWN).sum() + (s == stability.UNSTABLE).sum() for s in ball.status) > 0


def test_the_uploaded_cnn_gets_the_spectrum_of_every_weight_layer(uploaded_cnn):
    layers = spectra.model_spectra(uploaded_cnn)
    assert [layer.kind for layer in layers] == ["conv2d", "conv2d", "conv2d", "linear"]
    net = uploaded_cnn[1].layers
    with torch.no_grad():  # the stem's operator, one column per input pixel
        columns = F.conv2d(torch.eye(64, dtype=torch.float64).reshape(64, 1, 8, 8), net["stem"].weight.double(),
                           padding=1)
    dense = columns.reshape(64, -1).T.numpy()
    np.testing.assert_allclose(layers[0].values, np.linalg.svd(dense, compute_uv=False), atol=1e-9)
    head = net["head"].weight.detach().double().numpy()
    np.testing.assert_allclose(layers[3].values, np.linalg.svd(head, compute_uv=False), rtol=1e-6)


def test_the_uploaded_cnn_gets_deepfool(uploaded_cnn, digits):
    x = torch.as_tensor(digits.X_test[:8])
    result = attacks.deepfool(uploaded_cnn, x, norm="l2", overshoot=0.02, max_iter=50, clip=(0.0, 1.0))
    assert result.success.any()
    with torch.no_grad():
        before = uploaded_cnn(x).argmax(1).numpy()
        after = uploaded_cnn(torch.as_tensor(result.x_adv)).argmax(1).numpy()
    np.testing.assert_array_equal(result.success, after != before)
