"""The whisper family's encoder graph: each layer's frames against a float32 numpy encoder computed from the same
weights, every layer from one pass, the graph's bytes and digest, the per-layer columns and their order, and the
graph recorded in the bundle."""

import hashlib
import json
import struct

import numpy as np
import pytest
import scipy.signal
import scipy.special

from ser.config import FeatureParams, ParamError, WhisperParams
from ser.features import encoder, weights, whisper
from ser.features.extractor import FeatureExtractor
from tests.conftest import require

FLOAT32_TOLERANCE = 5e-4  # largest difference from the numpy encoder, float32 graph (values of magnitude ~1)
INT8_TOLERANCE = 0.12  # root mean square difference from it over the reference's own, int8 graph


def encoder_arrays(model: weights.ModelFile) -> dict[str, np.ndarray]:
    """The encoder's variables, as :class:`ser.features.weights.ModelFile` reads them."""
    return {name: model.array(name) for name in model.variables if name.startswith("encoder/")}


def layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-5) * gamma + beta


def gelu(x):
    return 0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2)))


def conv1d(x, weight, bias, stride):
    """Whisper's convolutions: kernel 3, padding 1; ``x`` is (channels, frames)."""
    padded = np.pad(x, ((0, 0), (1, 1)))
    frames = (x.shape[1] - 1) // stride + 1
    taps = np.stack([padded[:, k : k + stride * (frames - 1) + 1 : stride] for k in range(3)], axis=-1)
    return np.einsum("oik,itk->ot", weight, taps) + bias[:, None]


def reference_layers(arrays: dict, mel: np.ndarray) -> list[np.ndarray]:
    """Every encoder layer's output passed through the final layer norm, ``(frames, width)``, in float32 numpy."""
    x = gelu(conv1d(mel, arrays["encoder/conv1/weight"], arrays["encoder/conv1/bias"], 1))
    x = gelu(conv1d(x, arrays["encoder/conv2/weight"], arrays["encoder/conv2/bias"], 2)).T
    x = x + arrays["encoder/position_encodings/encodings"][: len(x)]
    heads = int(arrays["encoder/num_heads"])
    width = x.shape[1]
    outputs, layer = [], 0
    while f"encoder/layer_{layer}/ffn/linear_0/weight" in arrays:
        at = f"encoder/layer_{layer}/"
        h = layer_norm(x, arrays[at + "self_attention/layer_norm/gamma"], arrays[at + "self_attention/layer_norm/beta"])
        qkv = h @ arrays[at + "self_attention/linear_0/weight"].T + arrays[at + "self_attention/linear_0/bias"]
        q, k, v = (part.reshape(len(x), heads, -1).transpose(1, 0, 2) for part in np.split(qkv, 3, axis=1))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(width // heads)
        attention = scipy.special.softmax(scores, axis=-1) @ v
        x = (
            x
            + attention.transpose(1, 0, 2).reshape(len(x), width) @ arrays[at + "self_attention/linear_1/weight"].T
            + arrays[at + "self_attention/linear_1/bias"]
        )
        h = layer_norm(x, arrays[at + "ffn/layer_norm/gamma"], arrays[at + "ffn/layer_norm/beta"])
        h = gelu(h @ arrays[at + "ffn/linear_0/weight"].T + arrays[at + "ffn/linear_0/bias"])
        x = x + h @ arrays[at + "ffn/linear_1/weight"].T + arrays[at + "ffn/linear_1/bias"]
        outputs.append(layer_norm(x, arrays["encoder/layer_norm/gamma"], arrays["encoder/layer_norm/beta"]))
        layer += 1
    return outputs


def speechlike(seconds: float, sample_rate: int = 16000) -> np.ndarray:
    """A voiced buzz with a moving formant and pauses, so the encoder has something to say."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    source = scipy.signal.sawtooth(2 * np.pi * np.cumsum(pitch) / sample_rate)
    envelope = (np.sin(2 * np.pi * 2.5 * t) > -0.3).astype(float)
    return (0.2 * envelope * source * np.sin(2 * np.pi * (600 + 400 * t) * t)).astype(np.float32)


@pytest.fixture(scope="module")
def base_folder():
    return weights.resolve_model("base")[0]


@pytest.fixture(scope="module")
def reference(base_folder):
    """A 3 s clip's log-mel frames and every layer of the numpy encoder over them."""
    mel = whisper.log_mel(speechlike(3.0), padded=False)
    return mel, reference_layers(encoder_arrays(weights.model_file(base_folder)), mel)


@pytest.mark.parametrize("compute_type", ["float32", "int8"])
def test_one_pass_gives_each_layer_of_a_float32_numpy_encoder_of_the_same_weights(base_folder, reference, compute_type):
    mel, expected = reference
    assert len(expected) == 6
    encoder = whisper.WhisperEncoder(base_folder, compute_type=compute_type, padded=False, layers="all")
    assert encoder.layers == (1, 2, 3, 4, 5, 6)
    outputs = encoder.encode(mel)
    assert len(outputs) == 6

    def relative(ours, theirs):
        return np.sqrt(np.mean((ours - theirs) ** 2) / np.mean(theirs**2))

    for layer, ours, theirs in zip(encoder.layers, outputs, expected):
        assert ours.shape == theirs.shape == (150, 512) and ours.dtype == np.float32
        if compute_type == "float32":
            assert np.abs(ours - theirs).max() < FLOAT32_TOLERANCE, layer
        else:
            assert relative(ours, theirs) < INT8_TOLERANCE, (layer, relative(ours, theirs))
        others = [relative(ours, other) for index, other in enumerate(expected, start=1) if index != layer]
        assert min(others) > 3 * relative(ours, theirs), (layer, others)  # the output is that layer's


def test_a_layer_is_the_same_whichever_other_layers_the_pass_returns(base_folder, reference):
    mel, _ = reference
    every = whisper.WhisperEncoder(base_folder, compute_type="int8", padded=False, layers="all").encode(mel)
    some = whisper.WhisperEncoder(base_folder, compute_type="int8", padded=False, layers=(2, 4)).encode(mel)
    np.testing.assert_array_equal(some[0], every[1])
    np.testing.assert_array_equal(some[1], every[3])


def test_the_graph_is_built_once_per_machine_and_read_back_only_when_its_digest_matches(
    base_folder, monkeypatch, tmp_path
):
    monkeypatch.setenv("SER_CACHE", str(tmp_path))
    build = encoder._build
    encoder.graph.cache_clear()
    built = encoder.graph(base_folder, (2, 3), "int8")
    kept = list((tmp_path / encoder.GRAPH_CACHE).iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == built and kept[0].stem.endswith(hashlib.sha256(built).hexdigest())

    def never(*args):
        raise AssertionError("the graph was built again")

    monkeypatch.setattr(encoder, "_build", never)
    encoder.graph.cache_clear()
    assert encoder.graph(base_folder, (2, 3), "int8") == built  # a fresh process reads it back
    kept[0].write_bytes(built[:-1] + b"!")  # damaged: built again and kept anew
    monkeypatch.setattr(encoder, "_build", build)
    encoder.graph.cache_clear()
    assert encoder.graph(base_folder, (2, 3), "int8") == built and kept[0].read_bytes() == built
    assert encoder.graph(base_folder, (2, 4), "int8") != built and len(list(kept[0].parent.iterdir())) == 2
    encoder.graph.cache_clear()


def test_the_graph_is_valid_onnx_with_an_output_per_layer_and_the_same_bytes_every_time(base_folder):
    onnx = require("onnx")
    model = onnx.load_from_string(encoder.graph(base_folder, (2, 3, 4), "int8"))
    onnx.checker.check_model(model)
    assert [output.name for output in model.graph.output] == ["layer2", "layer3", "layer4"]
    assert not any("layer_4/" in tensor.name for tensor in model.graph.initializer)  # nothing past layer 4 runs
    assert sum(node.op_type == "MatMulInteger" for node in model.graph.node) == 4 * 4  # each block's linear layers
    info = weights.weights_info("base", (2, 3, 4), "int8")
    assert info["sha256"] == weights.BASE_SHA256 and info["runtime"] == f"onnxruntime {encoder.runtime_version()}"
    assert info["graph"] == hashlib.sha256(encoder._build(base_folder, (2, 3, 4), "int8")).hexdigest()  # built again
    others = {
        encoder.graph_digest(base_folder, (2, 3), "int8"),
        encoder.graph_digest(base_folder, (2, 3, 4), "float32"),
    }
    assert info["graph"] not in others and len(others) == 2


def test_quantised_variables_are_read_as_their_float_values(tmp_path):
    """A CTranslate2 int8 conversion stores a weight's rows as int8 beside a ``_scale`` (127 over the row's largest
    magnitude): read back, they are the float values."""

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    def variable(name: str, array: np.ndarray, type_id: int) -> bytes:
        shape = struct.pack("<B", array.ndim) + b"".join(struct.pack("<I", size) for size in array.shape)
        return string(name) + shape + struct.pack("<BI", type_id, array.nbytes) + array.tobytes()

    rows = np.array([[-127, 5, 0], [3, 127, -64]], np.int8)
    scale = np.array([127 / 2.0, 127 / 0.5], np.float32)
    data = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 1, 3)
    data += variable("encoder/w", rows, 1) + variable("encoder/w_scale", scale, 0)
    data += variable("encoder/num_heads", np.array(8, np.int16), 2) + struct.pack("<I", 0)
    model = weights.ModelFile(data, tmp_path / "model.bin")
    np.testing.assert_allclose(model.array("encoder/w"), rows / scale[:, None], rtol=1e-6)
    assert model.array("encoder/w")[0, 0] == pytest.approx(-2.0) and model.array("encoder/num_heads") == 8


def test_columns_say_the_layer_in_layer_then_statistic_order(base_folder):
    params = FeatureParams(
        families=("whisper", "rms"), stats=("mean",), whisper=WhisperParams(layers=[4, 2], stats=("mean", "std"))
    )
    assert params.whisper.layers == (2, 4)
    extractor = FeatureExtractor(params, 16000)
    names = extractor.names
    expected = [
        f"whisper_layer{layer}_{stat}_{i:03d}" for layer in (2, 4) for stat in ("mean", "std") for i in range(512)
    ]
    assert names == expected + ["rms_mean_00"]
    samples = speechlike(2.0)
    vector = extractor(samples)
    frames = whisper.WhisperEncoder(base_folder, compute_type="int8", padded=False, layers=(2, 4)).frames(samples)
    np.testing.assert_allclose(vector[:512], frames[0].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(vector[1024 + 512 : 2048], frames[1].std(axis=1), rtol=1e-6)


def test_layers_param_and_a_layer_the_encoder_lacks_are_one_clear_line(base_folder):
    for bad in ([], [0], [2, 2], "some", [1.5]):
        with pytest.raises(ParamError, match="features.whisper.layers: got .*; allowed: all, or a list of distinct"):
            WhisperParams(layers=bad)
    with pytest.raises(
        weights.WhisperError,
        match="features.whisper.layers: got 7, but the encoder in .* has 6 layers; allowed: 1 to 6, or all",
    ):
        weights.encoder_layers(base_folder, (2, 7))


def whisper_bundle(folder, layers) -> None:
    """A bundle whose features are the given whisper layers."""
    from sklearn.linear_model import LogisticRegression

    from ser.inference.bundle import save_bundle
    from tests.bundles import bundle_params, record_of

    params = FeatureParams(families=("whisper",), stats=("mean",), whisper=WhisperParams(layers=layers))
    columns = FeatureExtractor(params, 16000).names
    X = np.random.default_rng(0).standard_normal((20, len(columns)))
    model = LogisticRegression().fit(X, ["calm", "sad"] * 10)
    record = record_of(model, X, columns, ["01"] * 20, bundle_params(params, sample_rate=16000, normalize="none"))
    save_bundle(folder, model, record)


def test_a_bundle_records_the_graph_and_one_built_differently_is_refused(tmp_path, base_folder):
    from ser.inference.bundle import BundleError, read_info, write_info
    from ser.inference.card import model_summary
    from ser.inference.predictor import Predictor

    whisper_bundle(tmp_path / "same", (2, 3))
    recorded = read_info(tmp_path / "same")["weights"]["whisper"]
    assert recorded["graph"] == encoder.graph_digest(base_folder, (2, 3), "int8")
    assert recorded["runtime"] == f"onnxruntime {encoder.runtime_version()}"
    predictor = Predictor(tmp_path / "same")  # consistent: loads, and predicts with those layers
    assert predictor.extractor.params.whisper.layers == (2, 3) and len(predictor.order) == 2 * 2 * 512
    summary = model_summary(predictor.record)["sha256"]  # ser info names the runtime and the graph's digest
    assert summary[f"encoder graph (onnxruntime {encoder.runtime_version()})"] == recorded["graph"]
    whisper_bundle(tmp_path / "changed", (2, 3))
    info = json.loads((tmp_path / "changed" / "model.json").read_text())
    info["weights"]["whisper"]["graph"] = encoder.graph_digest(base_folder, (2, 4), "int8")  # another graph's
    write_info(tmp_path / "changed", info)  # with its own digest: the graph's check is what refuses it
    with pytest.raises(
        BundleError,
        match=r"the encoder graph built here for whisper layers \[2, 3\] differs from the one the model was "
        r"trained on \(onnxruntime [0-9.]+; another version of ser\?\); retrain with dvc repro",
    ):
        Predictor(tmp_path / "changed")
