"""An ONNX upload takes the path of a checkpoint upload: the sidebar's upload box, ``AppState.add_upload``,
``services.uploaded_model`` (an image model gets the Unflatten that feeds it the app's flat vectors).

Known answers: the residual MaxPool CNN of test_graph_model_upload, exported with ``torch.onnx.export``
and saved with ``zoo.save``, uploads as the same model either way: the same layers, the same outputs
on the digits (float64, 1e-12). A refused file leaves the session's model as it was, and its message
(which quotes the file's node name) is shown as text.
"""

import contextlib
import copy
import io
import warnings

import numpy as np
import torch
from onnx import TensorProto, helper

from dashboard import services
from dashboard.views.model_picker import ModelPicker
from explorer import datasets
from tests.dashboard.test_graph_model_upload import ResidualMaxPoolCNN, saved_residual_cnn


def exported_residual_cnn() -> bytes:
    """The same seeded network as ``saved_residual_cnn``, written by torch's ONNX exporter."""
    torch.manual_seed(0)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(ResidualMaxPoolCNN().eval(), (torch.rand(2, 1, 8, 8),), buffer, input_names=["x"],
                          dynamo=False, dynamic_axes={"x": {0: "batch"}})
    return buffer.getvalue()


def test_an_onnx_upload_is_the_checkpoint_upload_of_the_same_network(tmp_path):
    from_onnx = services.uploaded_model(exported_residual_cnn())
    from_checkpoint = services.uploaded_model(saved_residual_cnn(tmp_path / "cnn.pt"))
    assert from_onnx.input_shape == from_checkpoint.input_shape == (64,)
    assert [type(m) for m in from_onnx.modules()] == [type(m) for m in from_checkpoint.modules()]
    x = torch.as_tensor(datasets.load("digits").X_test[:50], dtype=torch.float64)
    with torch.no_grad():
        got, want = copy.deepcopy(from_onnx).double()(x), copy.deepcopy(from_checkpoint).double()(x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert services.fits(from_onnx, datasets.load("digits"))


def test_the_model_picker_loads_an_onnx_file_and_shows_a_refusal_as_text(state):
    picker = ModelPicker(state=state)
    picker._upload.value = {"cnn.onnx": exported_residual_cnn()}
    assert picker._status.alert_type == "success" and "cnn.onnx" in picker._status.object
    assert state.model_name.endswith("cnn.onnx") and state.dataset_name == "digits"
    x = torch.as_tensor(datasets.load("digits").X_test[:5])
    with torch.no_grad():
        torch.manual_seed(0)
        want = ResidualMaxPoolCNN().eval()(x.reshape(5, 1, 8, 8))
        np.testing.assert_allclose(state.model(x).numpy(), want.numpy(), rtol=1e-6, atol=1e-6)

    hostile = helper.make_model(helper.make_graph(
        [helper.make_node("Erf", ["x"], ["y"], name="<img src=x onerror=alert(1)>")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 64])])).SerializeToString()
    picker._upload.value = {"evil.onnx": hostile}
    status = picker._status.object
    assert picker._status.alert_type == "danger" and "evil.onnx was not loaded" in status
    assert "Erf" in status and "\\<img" in status and "<img" not in status.replace("\\<img", "")
    assert state.model_name.endswith("cnn.onnx")
