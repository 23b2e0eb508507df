"""The synthetic demo corpus: RAVDESS names, determinism, sane audio, learnable emotions."""

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser.corpus.conventions import CONVENTIONS, parse_ravdess
from ser.corpus.demo import generate_demo_corpus
from ser.features.extractor import FeatureExtractor
from tests.featuresets import NOTEBOOK_FEATURES


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_demo_corpus(tmp_path_factory.mktemp("demo"), n_speakers=6)


def test_names_follow_ravdess_with_every_emotion_and_speaker(corpus):
    fields = [parse_ravdess(path) for path in corpus]
    assert len(corpus) == 6 * 60
    assert {f["emotion"] for f in fields} == set(CONVENTIONS["ravdess"].emotions)
    assert sorted({f["speaker"] for f in fields}) == ["01", "02", "03", "04", "05", "06"]
    assert all(path.parent.name == f"Actor_{f['speaker']}" for path, f in zip(corpus, fields))


def test_generation_is_byte_identical(corpus, tmp_path):
    again = generate_demo_corpus(tmp_path, n_speakers=2)
    for path in again:
        original = corpus[0].parents[1] / path.relative_to(tmp_path)
        assert path.read_bytes() == original.read_bytes(), path.name


def test_audio_is_mono_16k_finite_and_audible(corpus):
    for path in corpus[::17]:
        samples, rate = sf.read(path)
        assert rate == 16000 and samples.ndim == 1
        assert np.isfinite(samples).all() and 0.01 < np.abs(samples).max() <= 1
        assert 1.0 < len(samples) / rate < 4.0


def test_emotions_are_learnable_on_unseen_speakers(corpus):
    extractor = FeatureExtractor(NOTEBOOK_FEATURES, 16000)
    X = np.array([extractor(sf.read(path, dtype="float32")[0]) for path in corpus])
    fields = [parse_ravdess(path) for path in corpus]
    emotion = np.array([f["emotion"] for f in fields])
    train = np.array([f["speaker"] not in ("05", "06") for f in fields])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[train], emotion[train])
    uar = balanced_accuracy_score(emotion[~train], model.predict(X[~train]))
    assert uar > 0.35, f"held-out-speaker UAR {uar:.2f} is too close to chance (0.125)"
