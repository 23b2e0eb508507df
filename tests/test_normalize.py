"""Per-speaker normalisation and nested selection: nothing shared between speakers, fold sides or outer folds."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from ser.config import EvaluateParams
from ser.modeling.crossval import cross_validate_model, fit_predict, nested_leave_one_speaker_out
from ser.modeling.normalize import (
    SHRINK_BELOW,
    SHRINK_PRIOR,
    STATISTICS_ROWS,
    new_speaker_statistics,
    normalize,
    normalize_by_speaker,
    normalize_new_speakers,
    reference_statistics,
    streamed_speaker_statistics,
)


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


def test_reference_is_the_average_speaker():
    X, speakers = speakers_sample()
    mean, std = reference_statistics(X, speakers)
    means = [X[speakers == s].mean(axis=0) for s in ("01", "02", "03")]
    variances = [X[speakers == s].var(axis=0) for s in ("01", "02", "03")]
    np.testing.assert_allclose(mean, np.mean(means, axis=0))
    np.testing.assert_allclose(std, np.sqrt(np.mean(variances, axis=0)))


def test_a_column_constant_for_one_speaker_pools_that_speakers_zero_variance():
    X = np.array([[3.0, 0.0], [3.0, 1.0], [-1.0, 2.0], [1.0, 2.0]])  # column 0 constant for A, std 1 for B
    speakers = np.array(["A", "A", "B", "B"])
    mean, std = reference_statistics(X, speakers)
    np.testing.assert_allclose(std, [np.sqrt(0.5), np.sqrt(0.125)])  # 0.707, not 1.0 (a std replaced, then pooled)
    np.testing.assert_allclose(mean, [1.5, 1.25])
    assert reference_statistics(np.array([[2.0], [2.0], [5.0]]), np.array(["A", "A", "B"]))[1].tolist() == [1.0]


def test_new_speakers_with_enough_recordings_are_standardised_like_training_speakers():
    X, speakers = speakers_sample()
    assert (speakers == "01").sum() >= SHRINK_BELOW and (speakers == "03").sum() < SHRINK_BELOW
    reference = (np.full(4, 7.0), np.full(4, 2.0))
    out = normalize_new_speakers(X, speakers, reference)
    enough = speakers != "03"
    np.testing.assert_allclose(out[enough], normalize_by_speaker(X, speakers)[enough])
    # speaker 03 (8 rows): own mean and variance weighted 8 : SHRINK_PRIOR against the reference's
    rows = X[speakers == "03"]
    weight = len(rows) / (len(rows) + SHRINK_PRIOR)
    mean = weight * rows.mean(axis=0) + (1 - weight) * 7.0
    std = np.sqrt(weight * rows.var(axis=0) + (1 - weight) * 4.0)
    np.testing.assert_allclose(out[speakers == "03"], (rows - mean) / std)


def test_a_lone_recording_leans_on_the_reference():
    reference = (np.array([1.0, -2.0]), np.array([0.5, 4.0]))
    lone = np.array([[2.0, 6.0]])
    out = normalize_new_speakers(lone, ["x"], reference)
    weight = 1 / (1 + SHRINK_PRIOR)
    expected = (lone - (weight * lone + (1 - weight) * reference[0])) / np.sqrt((1 - weight) * reference[1] ** 2)
    np.testing.assert_allclose(out, expected)
    assert np.isfinite(out).all()


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
    np.testing.assert_allclose(
        normalize_by_speaker(X[order], speakers[order]), normalize_by_speaker(X, speakers)[order]
    )
    assert not normalize_by_speaker(X, speakers)[:, 2].any()
    single = normalize_by_speaker(X[:1], speakers[:1])
    assert np.all(np.isfinite(single)) and not single.any()


@pytest.mark.parametrize("rows", [3, STATISTICS_ROWS - 1, STATISTICS_ROWS, 2 * STATISTICS_ROWS + 5])
def test_statistics_of_rows_given_in_blocks_are_those_of_the_rows_stacked(rows):
    rng = np.random.default_rng(rows)
    X = (rng.standard_normal((rows, 6)) * [0.01, 1, 30, 1e3, 1, 1] + [5, -40, 1e3, 0, 1e4, 0]).astype(np.float32)
    X[:, 5] = 2.5  # a constant column
    reference = (np.full(6, 3.0), np.full(6, 2.0))
    blocks = lambda: (X[i : i + STATISTICS_ROWS] for i in range(0, rows, STATISTICS_ROWS))  # noqa: E731
    mean, std = streamed_speaker_statistics(blocks, reference)
    assert [a.tolist() for a in (mean, std)] == [a.tolist() for a in new_speaker_statistics(X, reference)]
    if rows >= SHRINK_BELOW:
        assert mean.tolist() == X.mean(axis=0, dtype=np.float64).tolist()  # bit for bit: summed row after row
        np.testing.assert_allclose(std[:5], X.std(axis=0, dtype=np.float64)[:5], rtol=1e-12)
        assert std[5] == 1.0


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
    X = (
        rng.standard_normal((48, 3))
        + np.array([[ord(c) - 97] for c in y])
        + np.repeat(rng.uniform(-50, 50, 4), 12)[:, None]
    )
    train, test = np.flatnonzero(speakers != "04"), np.flatnonzero(speakers == "04")

    class Recorder(LogisticRegression):
        seen: list = []

        def predict(self, X):
            Recorder.seen.append(X)
            return super().predict(X)

    fit_predict(Recorder(), X, y, speakers, train, test, "speaker")
    together, alone = Recorder.seen
    np.testing.assert_allclose(together, normalize_by_speaker(X[test], speakers[test]))
    # one clip: each test row alone, against the training speakers' average (never the test speaker's own rows)
    reference = reference_statistics(X[train], speakers[train])
    np.testing.assert_allclose(alone, normalize_new_speakers(X[test], list(range(len(test))), reference))
    np.testing.assert_allclose(alone[0], normalize_new_speakers(X[test][:1], ["x"], reference)[0])
    plain = cross_validate_model(LogisticRegression(), X, y, speakers, EvaluateParams(cv_folds=4), seed=5, n_jobs=1)
    per_speaker = cross_validate_model(
        LogisticRegression(), X, y, speakers, EvaluateParams(cv_folds=4), seed=5, normalization="speaker", n_jobs=1
    )
    assert per_speaker["uar_mean"] > plain["uar_mean"] + 0.2  # the speaker offsets swamp the classes until removed


def nested_sample(seed=0):
    """Six speakers; columns 0-1 carry the class, columns 2-3 are noise, and every speaker has its own offset."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat([f"{i:02d}" for i in range(1, 7)], 12)
    y = np.tile(["a", "b", "c"], 24)
    signal = np.array([[ord(c) - 97] for c in y], dtype=float)
    X = np.hstack([signal + 0.5 * rng.standard_normal((72, 2)), rng.standard_normal((72, 2))])
    X += np.repeat(rng.uniform(-20, 20, (6, 4)), 12, axis=0)
    return X, y, speakers


CANDIDATES = {
    "noise": (LogisticRegression(), [2, 3], "speaker"),
    "signal, raw": (LogisticRegression(), [0, 1], "none"),
    "signal, per speaker": (LogisticRegression(), [0, 1], "speaker"),
}


@pytest.mark.parametrize("inner_folds", [None, 2])
def test_nested_selection_picks_by_inner_folds_and_reports_the_chosen_outer_scores(inner_folds):
    X, y, speakers = nested_sample()
    result = nested_leave_one_speaker_out(CANDIDATES, X, y, speakers, inner_folds=inner_folds, n_jobs=1)
    assert [fold["chosen"] for fold in result["folds"]] == ["signal, per speaker"] * 6
    best = result["candidates"]["signal, per speaker"]
    assert [fold["uar"] for fold in result["folds"]] == best["uar_per_fold"]
    assert [fold["uar_one_clip"] for fold in result["folds"]] == best["uar_one_clip_per_fold"]
    assert result["uar_mean"] == pytest.approx(best["uar_mean"]) and result["uar_mean"] > 0.8
    assert result["candidates"]["noise"]["uar_mean"] < 0.6


@pytest.mark.parametrize("inner_folds", [None, 2])
def test_the_held_out_speaker_takes_no_part_in_its_folds_choice(inner_folds):
    X, y, speakers = nested_sample()
    before = nested_leave_one_speaker_out(CANDIDATES, X, y, speakers, inner_folds=inner_folds, n_jobs=1)
    rng = np.random.default_rng(7)
    held = speakers == "03"
    X[held] = rng.standard_normal((held.sum(), 4)) * 100
    y = y.copy()
    y[held] = rng.permutation(y[held])
    after = nested_leave_one_speaker_out(CANDIDATES, X, y, speakers, inner_folds=inner_folds, n_jobs=1)
    fold_before, fold_after = before["folds"][2], after["folds"][2]
    assert fold_before["speaker"] == fold_after["speaker"] == "03"
    assert fold_after["chosen"] == fold_before["chosen"]
    assert fold_after["inner_score"] == fold_before["inner_score"]  # computed without speaker 03 at all
    assert after["folds"][0]["inner_score"] != before["folds"][0]["inner_score"]  # other folds did train on it


def test_candidates_may_depend_on_the_held_out_speaker():
    X, y, speakers = nested_sample()
    asked = []

    def offered(held_out) -> dict:
        asked.append(held_out)
        return {"noise only": CANDIDATES["noise"]} if held_out == "03" else CANDIDATES

    result = nested_leave_one_speaker_out(offered, X, y, speakers, inner_folds=2, n_jobs=1)
    fixed = nested_leave_one_speaker_out(CANDIDATES, X, y, speakers, inner_folds=2, n_jobs=1)
    assert asked == [None, "01", "02", "03", "04", "05", "06"]
    assert [fold["chosen"] for fold in result["folds"]] == ["signal, per speaker"] * 2 + ["noise only"] + [
        "signal, per speaker"
    ] * 3
    assert [fold for i, fold in enumerate(result["folds"]) if i != 2] == [
        fold for i, fold in enumerate(fixed["folds"]) if i != 2
    ]  # the same candidates, the same folds
    assert result["folds"][2]["uar"] < 0.6  # the fold scores what its own candidates offered
    assert result["on_every_speaker"] == fixed["on_every_speaker"]
    assert result["on_every_speaker"]["chosen"] == "signal, per speaker" and "candidates" not in result
