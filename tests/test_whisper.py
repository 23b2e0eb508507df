"""The whisper feature family: Whisper's front end against a reference, the weights' digest, determinism."""

import io
import shutil

import numpy as np
import pandas as pd
import pytest

from ser.config import FeatureParams, ParamError, Params, WhisperParams
from ser.corpus.demo import generate_demo_corpus
from ser.features import weights, whisper
from ser.features.batch import extract_features
from ser.features.cache import configuration_key
from ser.features.extractor import FeatureExtractor
from ser.files import sha256_of
from tests.conftest import require

WHISPER_ONLY = FeatureParams(families=("whisper",))


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """Twelve synthetic recordings (the demo generator's): audio, not speech, is all these tests need."""
    files = generate_demo_corpus(tmp_path_factory.mktemp("demo"), n_speakers=2)[:12]
    return [
        {"file": p.name, "path": str(p), "speaker": p.stem[-2:], "emotion": "x", "sha256": sha256_of(p)} for p in files
    ]


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * whisper.SAMPLE_RATE))).astype(np.float32)


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("seconds", [0.5, 3.3, 31.0])
def test_log_mel_equals_hugging_face_whisper_feature_extractor(padded, seconds):
    transformers = require("transformers")  # Hugging Face's front end, the reference
    reference = transformers.WhisperFeatureExtractor(
        feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400
    )
    samples = noise(seconds)
    samples[: len(samples) // 3] *= 0.01  # a quiet stretch, so the floor at max - 8 matters
    # never cut at 30 s; padded: zeros up to whole 30 s chunks, as Whisper pads its standard input
    expected = reference(
        samples,
        sampling_rate=whisper.SAMPLE_RATE,
        return_tensors="np",
        truncation=False,
        padding="longest",
        pad_to_multiple_of=whisper.CHUNK_SAMPLES if padded else None,
    )["input_features"][0]
    ours = whisper.log_mel(samples, padded=padded)
    assert ours.shape == expected.shape == (80, len(ours[0]))
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_frames_cover_the_audio_not_the_padding_in_chunks_of_30_s():
    encoder = whisper.encoder(WhisperParams(layers=(2, 6)))
    for seconds in (0.25, 3.3, 31.0):
        samples = noise(seconds)
        for frames in encoder.frames(samples):
            assert frames.shape == (512, whisper.audio_frames(len(samples)))
            assert frames.shape[1] == -(-int(seconds * 100) // 2)  # one frame per 20 ms
            assert np.isfinite(frames).all()
    [padded] = whisper.encoder(WhisperParams(padded=True, layers=(6,))).frames(noise(3.3))
    unpadded = encoder.frames(noise(3.3))[1]
    assert padded.shape == unpadded.shape and not np.allclose(padded, unpadded)  # 30 s of context changes them


@pytest.mark.parametrize("seconds", [3.3, 31.0])
def test_the_frames_summarised_are_the_leading_encoder_frames_that_cover_the_audio(seconds):
    """Padded to whole 30 s chunks, the encoder gives 1,500 frames a chunk; the statistics cover the first
    audio_frames(n) of them, encoded here by hand, and none of the padding's."""
    params = WhisperParams(padded=True, stats=("mean", "std"), layers=(3,))
    samples = noise(seconds)
    mel = whisper.log_mel(samples, padded=True)
    encoder = whisper.encoder(params)
    chunks = [encoder.encode(chunk)[0] for chunk in np.split(mel, mel.shape[1] // whisper.CHUNK_FRAMES, axis=1)]
    by_hand = np.concatenate(chunks)
    kept = whisper.audio_frames(len(samples))
    assert by_hand.shape == (len(chunks) * whisper.CHUNK_FRAMES // 2, 512) and kept == -(-int(seconds * 100) // 2)
    [frames] = encoder.frames(samples)
    np.testing.assert_array_equal(frames, by_hand[:kept].T)
    vector = FeatureExtractor(FeatureParams(families=("whisper",), whisper=params), whisper.SAMPLE_RATE)(samples)
    leading = by_hand[:kept].astype(np.float64)
    np.testing.assert_allclose(
        vector, np.concatenate([leading.mean(axis=0), leading.std(axis=0)]), rtol=1e-4, atol=1e-6
    )


def test_names_follow_the_whisper_stats_not_the_families_stats():
    params = FeatureParams(
        families=("rms", "whisper"), stats=("mean", "max"), whisper=WhisperParams(stats=("std",), layers=(6,))
    )
    names = FeatureExtractor(params, 16000).names
    assert names[:2] == ["rms_mean_00", "rms_max_00"]
    assert names[2:] == [f"whisper_layer6_std_{i:03d}" for i in range(512)]


def test_the_whisper_family_takes_no_stft_of_the_extractors_and_a_spectral_family_beside_it_does(monkeypatch):
    """Whisper's own log-mel is its only front end: the shared spectrogram is taken only for a family that uses it."""
    import ser.features.extractor as extractor_module

    taken = []
    shared = extractor_module.power_spectrogram
    monkeypatch.setattr(extractor_module, "power_spectrogram", lambda *a, **k: taken.append(1) or shared(*a, **k))
    samples = noise(1.0)
    whisper_only = FeatureExtractor(WHISPER_ONLY, 16000)(samples)
    assert taken == []
    both = FeatureExtractor(FeatureParams(families=("rms", "whisper"), stats=("mean",)), 16000)(samples)
    assert taken == [1]
    assert both[1:].tobytes() == whisper_only.tobytes()


def test_parquet_is_byte_identical_for_one_or_two_workers_and_for_dask(rows, tmp_path, monkeypatch):
    one = extract_features(rows, WHISPER_ONLY, 16000, tmp_path / "one.parquet", tmp_path / "c1", workers=1)
    two = extract_features(rows, WHISPER_ONLY, 16000, tmp_path / "two.parquet", tmp_path / "c2", workers=2)
    assert one == two == len(rows)
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()

    distributed = require("dask.distributed")

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        params = FeatureParams(families=("whisper",), executor="dask", scheduler=cluster.scheduler_address)
        assert extract_features(rows, params, 16000, tmp_path / "dask.parquet", tmp_path / "c3") == len(rows)
    assert (tmp_path / "dask.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()
    table = pd.read_parquet(io.BytesIO((tmp_path / "one.parquet").read_bytes()))
    assert table.filter(like="_std_").shape[1] == len(WhisperParams().layers) * 512  # every default layer's
    assert table.filter(like="_std_").to_numpy().min() > 0  # real, varying encoder frames


def test_cache_key_covers_the_weights_digest_and_the_compute_type(tmp_path):
    base_folder, digest = weights.resolve_model("base")
    assert digest == weights.BASE_SHA256 == sha256_of(base_folder / "model.bin")
    keys = {
        configuration_key(params, 16000)
        for params in (
            WHISPER_ONLY,
            FeatureParams(families=("whisper",), whisper=WhisperParams(compute_type="float32")),
        )
    }
    other = tmp_path / "other"  # a Whisper folder with different weights, named by path
    other.mkdir()
    (other / "config.json").write_bytes((base_folder / "config.json").read_bytes())
    (other / "model.bin").write_bytes(b"not the base weights")
    keys.add(configuration_key(FeatureParams(families=("whisper",), whisper=WhisperParams(model=str(other))), 16000))
    assert len(keys) == 3


def test_a_model_folder_copy_named_by_path_gives_the_same_vectors(tmp_path, rows):
    copy = shutil.copytree(weights.resolve_model("base")[0], tmp_path / "whisper-base")
    params = FeatureParams(families=("whisper",), whisper=WhisperParams(model=str(copy)))
    samples = noise(2.0)
    np.testing.assert_array_equal(
        FeatureExtractor(params, 16000)(samples), FeatureExtractor(WHISPER_ONLY, 16000)(samples)
    )


def test_bad_model_params_are_one_clear_line(tmp_path):
    with pytest.raises(
        weights.WhisperError,
        match=r"features.whisper.model: '.*' is not a CTranslate2 Whisper "
        r"folder \(no config.json or model.bin\)",
    ):
        weights.resolve_model(str(tmp_path))
    with pytest.raises(ParamError, match="features.whisper.compute_type: got 'int4'"):
        WhisperParams(compute_type="int4")
    with pytest.raises(ParamError, match="audio.sample_rate: got 22050; the whisper feature family needs 16000"):
        Params.from_dict({"audio": {"sample_rate": 22050}, "features": {"families": ["whisper"]}})
