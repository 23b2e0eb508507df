"""Per-speaker normalisation: each speaker standardised by its own rows, nothing shared between speakers or fold sides."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from ser.config import EvaluateParams
from ser.crossval import cross_validate_model, fit_predict
from ser.normalize import normalize, normalize_by_speaker


def speakers_sample(seed=0):
    """Three speakers with their own offsets and scales on four features."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat(["01", "02", "03"], [10, 14, 8])
    offsets = {"01": 5.0, "02": -40.0, "03": 1000.0}
    scales = {"01": 0.1, "02": 3.0, "03": 50.0}
    X = np.vstack([offsets[s] + scales[s] * rng.standard_normal(4) for s in speakers])
    return X, speakers


def test_each_speakers_rows_have_mean_0_and_std_1():
    X, speakers = speakers_sample()
    out = normalize_by_speaker(X, speakers)
    for speaker in np.unique(speakers):
        rows = out[speakers == speaker]
        np.testing.assert_allclose(rows.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(rows.std(axis=0), 1, rtol=1e-12)


def test_a_speakers_result_depends_on_its_own_rows_only():
    X, speakers = speakers_sample()
    out = normalize_by_speaker(X, speakers)
    changed = X.copy()
    changed[speakers != "02"] = np.random.default_rng(9).standard_normal(((speakers != "02").sum(), 4)) * 1e6
    np.testing.assert_array_equal(normalize_by_speaker(changed, speakers)[speakers == "02"], out[speakers == "02"])
    alone = normalize_by_speaker(X[speakers == "02"], speakers[speakers == "02"])
    np.testing.assert_allclose(alone, out[speakers == "02"])  # the same with no other speaker present at all


def test_row_order_does_not_matter_and_constant_features_map_to_zero():
    X, speakers = speakers_sample()
    X[:, 2] = 7.0
    order = np.random.default_rng(3).permutation(len(X))
    np.testing.assert_allclose(normalize_by_speaker(X[order], speakers[order]), normalize_by_speaker(X, speakers)[order])
    assert not normalize_by_speaker(X, speakers)[:, 2].any()
    single = normalize_by_speaker(X[:1], speakers[:1])
    assert np.all(np.isfinite(single)) and not single.any()


def test_method_none_leaves_features_alone_and_unknown_methods_fail():
    X, speakers = speakers_sample()
    np.testing.assert_array_equal(normalize(X, speakers, "none"), X)
    with pytest.raises(ValueError, match="unknown normalisation 'gender'"):
        normalize(X, speakers, "gender")
    with pytest.raises(ValueError, match="speaker ids for"):
        normalize_by_speaker(X, speakers[:-1])


def test_cross_validation_normalises_each_side_of_a_fold_separately():
    """A test speaker's rows seen by the model are its own standardised rows, whatever the training rows hold."""
    rng = np.random.default_rng(4)
    speakers = np.repeat([f"{i:02d}" for i in range(1, 5)], 12)
    y = np.tile(["a", "b", "c"], 16)
    X = rng.standard_normal((48, 3)) + np.array([[ord(c) - 97] for c in y]) + np.repeat(rng.uniform(-50, 50, 4), 12)[:, None]
    train, test = np.flatnonzero(speakers != "04"), np.flatnonzero(speakers == "04")

    class Recorder(LogisticRegression):
        def predict(self, X):
            Recorder.seen = X
            return super().predict(X)

    fit_predict(Recorder(), X, y, speakers, train, test, "speaker")
    np.testing.assert_allclose(Recorder.seen, normalize_by_speaker(X[test], speakers[test]))
    plain = cross_validate_model(LogisticRegression(), X, y, speakers, EvaluateParams(cv_folds=4), seed=5, n_jobs=1)
    per_speaker = cross_validate_model(LogisticRegression(), X, y, speakers, EvaluateParams(cv_folds=4), seed=5,
                                       normalization="speaker", n_jobs=1)
    assert per_speaker["uar_mean"] > plain["uar_mean"] + 0.2  # the speaker offsets swamp the classes until removed
