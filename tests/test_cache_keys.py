"""Every param that decides a file's feature vector keys the per-file feature cache, and the execution settings
do not; every param the ingest checks depend on keys the ingest check cache. The fields come from the params
dataclasses, so a new field is covered as soon as it exists (or fails here until it is given another value)."""

from dataclasses import fields, is_dataclass, replace

import pytest

from ser.config import (
    FEATURE_EXECUTION_KEYS,
    WHISPER_COMPUTE_TYPES,
    AudioParams,
    AugmentParams,
    FeatureParams,
    WhisperParams,
)
from ser.corpus.ingest import CheckCache
from ser.features.augment import copy_rows
from ser.features.cache import configuration_key


def ctranslate2_folder(path, weights: bytes) -> str:
    """A folder that names a CTranslate2 Whisper model (only its weights' digest is read to make the key)."""
    path.mkdir()
    (path / "config.json").write_text("{}")
    (path / "model.bin").write_bytes(weights)
    return str(path)


@pytest.fixture
def base(tmp_path) -> FeatureParams:
    """Handcrafted families and the encoder, so that every field of ``features`` and ``features.whisper`` is in use."""
    return FeatureParams(
        families=("whisper", "mfcc", "rms"),
        n_mfcc=20,
        n_mels=64,
        whisper=WhisperParams(model=ctranslate2_folder(tmp_path / "a", b"weights a")),
    )


def other_value(name: str, value, tmp_path):
    """A valid value of the field ``name`` other than ``value``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if name == "model":
        return ctranslate2_folder(tmp_path / "b", b"weights b")
    if name == "compute_type":
        return next(other for other in WHISPER_COMPUTE_TYPES if other != value)
    if name == "layers":
        return (1,) if value != (1,) else (2,)
    if isinstance(value, tuple) and len(value) > 1:
        return value[:-1]  # a shorter list of names (families, stats)
    raise AssertionError(f"no other value known for the feature param {name!r}: add one to other_value")


def varied(params, tmp_path, skip=()) -> dict[str, object]:
    """``params`` with each of its fields (and each field of a nested section) changed alone, by dotted name."""
    result = {}
    for field in fields(params):
        value = getattr(params, field.name)
        if field.name in skip:
            continue
        if is_dataclass(value):
            for name, changed in varied(value, tmp_path).items():
                result[f"{field.name}.{name}"] = replace(params, **{field.name: changed})
        else:
            result[field.name] = replace(params, **{field.name: other_value(field.name, value, tmp_path)})
    return result


def test_every_feature_param_changes_the_feature_cache_key(base, tmp_path):
    key = configuration_key(base, 16000)
    changes = varied(base, tmp_path, skip=FEATURE_EXECUTION_KEYS + ("augment",))  # copies: keyed each by its own
    assert {"hop_length", "n_fft", "families", "stats", "whisper.model", "whisper.layers"} <= set(changes)
    unchanged = [name for name, params in changes.items() if configuration_key(params, 16000) == key]
    assert unchanged == [], f"feature params {unchanged} do not key the feature cache"
    assert configuration_key(base, 22050) != key


def test_execution_settings_do_not_change_the_feature_cache_key(base):
    key = configuration_key(base, 16000)
    assert configuration_key(replace(base, workers=3), 16000) == key
    assert configuration_key(replace(base, executor="dask", scheduler="tcp://10.0.0.5:8786"), 16000) == key


def test_a_copy_is_cached_by_its_files_content_its_perturbation_and_the_seed(base):
    """The copies a run makes change no file's own vector, so they leave the configuration key alone; each copy's
    vector is keyed by the content of its file, the perturbation and the seed."""
    assert configuration_key(replace(base, augment=AugmentParams(copies=("speed 0.9",))), 16000) == configuration_key(
        base, 16000
    )
    rows = [{"file": "a.wav", "path": "a.wav", "speaker": "01", "emotion": "calm", "sha256": "1" * 64}]
    moved = [{**rows[0], "file": "b.wav", "path": "x/b.wav"}]
    keys = {
        row["sha256"]
        for catalog, copies, seed in [
            (rows, ("noise 15",), 0),
            (rows, ("noise 10",), 0),
            (rows, ("reverb 0.5",), 0),
            (rows, ("noise 15",), 1),
            ([{**rows[0], "sha256": "2" * 64}], ("noise 15",), 0),
        ]
        for row in copy_rows(catalog, copies, seed)
    }
    assert len(keys) == 5 and "1" * 64 not in keys
    assert copy_rows(moved, ("noise 15",), 0)[0]["sha256"] == copy_rows(rows, ("noise 15",), 0)[0]["sha256"]


def test_encoder_params_key_the_cache_only_where_the_encoder_is_used(base, tmp_path):
    handcrafted = replace(base, families=("mfcc", "rms"))
    key = configuration_key(handcrafted, 16000)
    assert {
        configuration_key(replace(handcrafted, whisper=whisper), 16000)
        for whisper in varied(base.whisper, tmp_path).values()
    } == {key}


def check_cache(folder, audio: AudioParams, features: FeatureParams) -> CheckCache:
    """The ingest check cache as stages/ingest.py keys it."""
    return CheckCache(folder, audio.sample_rate, features.min_samples, audio.max_seconds)


def test_every_param_of_the_ingest_checks_changes_the_check_cache(base, tmp_path):
    audio = AudioParams()
    path = check_cache(tmp_path, audio, base).path
    for name, changed in varied(audio, tmp_path).items():
        assert check_cache(tmp_path, changed, base).path != path, f"audio.{name} does not key the check cache"
    changes = varied(base, tmp_path, skip=FEATURE_EXECUTION_KEYS + ("augment",))
    # of the feature params only n_fft (the shortest usable file, features.min_samples) decides what ingest keeps
    assert [name for name, features in changes.items() if check_cache(tmp_path, audio, features).path != path] == [
        "n_fft"
    ]
    assert check_cache(tmp_path, audio, replace(base, workers=2)).path == path
