"""The whisper family's encoder layers: each layer's frames against a float32 numpy encoder computed from the same
weights, the per-layer columns and their order, and the layer models recorded in the bundle."""

import json
import struct

import numpy as np
import pytest
import scipy.signal
import scipy.special

from ser.config import FeatureParams, ParamError, WhisperParams
from ser.features import weights, whisper
from ser.features.extractor import FeatureExtractor

CTRANSLATE2_TYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}  # its DataType enum order


def encoder_variables(model: weights.ModelFile) -> dict[str, np.ndarray]:
    """The encoder's variables as float32 arrays (integers kept), read from each variable's record."""
    arrays = {}
    for variable in model.variables:
        if not variable.name.startswith("encoder/"):
            continue
        record = model.data[variable.start : variable.end]
        type_at = 2 + len(variable.name) + 1 + 1 + 4 * len(variable.shape)
        kind = CTRANSLATE2_TYPES[record[type_at]]
        (size,) = struct.unpack_from("<I", record, type_at + 1)
        values = np.frombuffer(record[-size:], dtype=kind).reshape(variable.shape)
        arrays[variable.name] = values.astype(np.float32) if values.dtype.kind == "f" else values
    return arrays


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


def test_each_layer_equals_a_float32_numpy_encoder_of_the_same_weights(base_folder):
    samples = speechlike(1.3)
    mel = whisper.log_mel(samples, padded=False)
    expected = reference_layers(encoder_variables(weights.model_file(base_folder)), mel)
    assert len(expected) == 6
    encoder = whisper.WhisperEncoder(base_folder, compute_type="float32", padded=False, layers="all")
    assert encoder.layers == (1, 2, 3, 4, 5, 6)
    for layer, reference in zip(encoder.layers, expected):
        ours = encoder.encode(mel, layer)
        assert ours.shape == reference.shape
        error = np.abs(ours - reference).max()
        others = [np.abs(ours - other).max() for index, other in enumerate(expected, start=1) if index != layer]
        assert error < 2e-3, (layer, error)
        assert min(others) > 100 * error, (layer, error, others)  # the output is that layer's, no other's


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
    encoder = whisper.WhisperEncoder(base_folder, compute_type="int8", padded=False, layers=(2, 4))
    frames = encoder.frames(samples)
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
        weights.layer_model(base_folder, 7)


def test_layer_models_are_derived_in_memory_and_recorded_by_digest(base_folder):
    info = weights.weights_info("base", (2, 6))
    assert info["sha256"] == weights.BASE_SHA256 and sorted(info["layers"]) == ["2", "6"]
    assert len(set(info["layers"].values())) == 2
    assert info["layers"] == weights.layer_digests(base_folder, (2, 6))  # the same bytes every time
    files = weights.layer_model(base_folder, 2)
    cut = weights.ModelFile(files["model.bin"], base_folder / "model.bin")
    assert (cut.layers("encoder"), cut.layers("decoder")) == (2, 1)
    assert {v.name for v in cut.variables} <= {v.name for v in weights.model_file(base_folder).variables}


def whisper_bundle(folder, layers, recorded_layers) -> None:
    """A bundle whose features are the given whisper layers, recording ``recorded_layers`` as trained on."""
    from sklearn.linear_model import LogisticRegression

    from ser.inference.bundle import read_info, save_bundle, write_info
    from tests.bundles import bundle_params, record_of

    params = FeatureParams(families=("whisper",), stats=("mean",), whisper=WhisperParams(layers=layers))
    columns = FeatureExtractor(params, 16000).names
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, len(columns)))
    model = LogisticRegression().fit(X, ["calm", "sad"] * 10)
    save_bundle(
        folder,
        model,
        record_of(model, X, columns, ["01"] * 20, bundle_params(params, sample_rate=16000, normalize="none")),
    )
    info = read_info(folder)
    info["weights"]["whisper"]["layers"] = weights.layer_digests(weights.resolve_model("base")[0], recorded_layers)
    write_info(folder, info)  # with its own digest: what the predictor's checks refuse or accept


def test_a_bundle_whose_layers_differ_from_its_features_is_refused(tmp_path):
    from ser.inference.bundle import BundleError, write_info
    from ser.inference.predictor import Predictor

    whisper_bundle(tmp_path / "same", (2, 3), (2, 3))
    predictor = Predictor(tmp_path / "same")  # consistent: loads, and predicts with those layers
    assert predictor.extractor.params.whisper.layers == (2, 3) and len(predictor.order) == 2 * 2 * 512
    whisper_bundle(tmp_path / "other", (2, 3), (2, 4))
    with pytest.raises(
        BundleError,
        match=r"the model was trained on whisper layers \['2', '4'\], but its features "
        r"ask for layers \['2', '3'\]; the bundle is inconsistent",
    ):
        Predictor(tmp_path / "other")
    whisper_bundle(tmp_path / "changed", (2, 3), (2, 3))
    info = json.loads((tmp_path / "changed" / "model.json").read_text())
    info["weights"]["whisper"]["layers"]["3"] = "0" * 64  # derived differently from what it was trained on
    write_info(tmp_path / "changed", info)  # with its own digest: the layers' check is what refuses it
    with pytest.raises(
        BundleError, match="whisper layer\\(s\\) 3 derived here differ from those the model was trained on"
    ):
        Predictor(tmp_path / "changed")
