"""train.calibrate: a temperature per normalisation mode, fitted on speaker-grouped folds in that mode; the labels
stay the classifier's own."""

import dataclasses

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from ser.config import TrainParams
from ser.modeling.calibration import TemperatureScaled, calibrated_probabilities, fit_temperature, temper
from ser.modeling.model import build_model, fit_model, without_calibration
from ser.modeling.normalize import normalize_held_out, reference_statistics


def speakers_data(seed=0, speakers=8, rows=30):
    """Two weakly separated classes, each speaker with an offset: an unregularised model is overconfident."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"{i:02d}" for i in range(speakers)], rows)
    y = np.tile(["a", "b"], speakers * rows // 2)
    X = (
        rng.standard_normal((len(y), 20))
        + 0.6 * (y == "a")[:, None]
        + np.repeat(rng.normal(0, 1, (speakers, 20)), rows, 0)
    )
    return X, y, groups


def test_temperature_is_the_log_loss_minimum():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((400, 3)) * 4
    labels = np.array([rng.choice(3, p=np.exp(row / 2) / np.exp(row / 2).sum()) for row in logits])
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    found = fit_temperature(probabilities, labels)
    assert found == pytest.approx(2.0, rel=0.25)  # drawn from the logits at temperature 2
    losses = [log_loss(labels, temper(probabilities, t), labels=[0, 1, 2]) for t in (found * 0.8, found, found * 1.25)]
    assert losses[1] < losses[0] and losses[1] < losses[2]


def test_folds_are_grouped_by_speaker_and_labels_do_not_change():
    X, y, groups = speakers_data()

    class Recorder(LogisticRegression):
        fitted_on: list = []

        def fit(self, X, y):
            Recorder.fitted_on.append(X)
            return super().fit(X, y)

    model = fit_model(TemperatureScaled(Recorder(C=1e4, max_iter=5000)), X, y, groups, "none")
    *fold_fits, final_fit = Recorder.fitted_on
    assert len(fold_fits) == 3 and len(final_fit) == len(X)
    row_speaker = {row.tobytes(): speaker for row, speaker in zip(X.astype(np.float32), groups)}
    for fit in fold_fits:  # a fold trains on whole speakers: all 30 rows of each, or none
        speakers, counts = np.unique([row_speaker[row.tobytes()] for row in fit], return_counts=True)
        assert 0 < len(speakers) < 8 and set(counts) == {30}
    held_out = [set(groups) - {row_speaker[row.tobytes()] for row in fit} for fit in fold_fits]
    assert sorted(s for speakers in held_out for s in speakers) == sorted(set(groups))  # each held out exactly once
    plain = LogisticRegression(C=1e4, max_iter=5000).fit(X.astype(np.float32), y)
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))
    assert model.temperatures_["together"] > 1.5  # overconfident on speakers it did not hear: softened
    assert model.temperatures_["alone"] == model.temperatures_["together"]  # without normalisation, one mode


def test_calibration_lowers_the_log_loss_on_new_speakers_and_fit_model_passes_the_speakers():
    X, y, groups = speakers_data(seed=2, speakers=10)
    train, test = groups < "08", groups >= "08"
    params = TrainParams(model="logreg", normalize="none", scale=True, calibrate=True)
    params = TrainParams(**{**params.__dict__, "logreg": {"C": 1e4, "max_iter": 5000}})
    columns = [f"mfcc_mean_{i:02d}" for i in range(20)]
    calibrated = fit_model(build_model(params, columns), X[train], y[train], groups[train], "none")
    raw = fit_model(without_calibration(build_model(params, columns)), X[train], y[train], groups[train], "none")
    assert isinstance(calibrated[-1], TemperatureScaled) and not isinstance(raw[-1], TemperatureScaled)
    np.testing.assert_array_equal(calibrated.predict(X[test]), raw.predict(X[test]))
    assert log_loss(y[test], calibrated.predict_proba(X[test])) < log_loss(y[test], raw.predict_proba(X[test]))


def test_each_normalisation_mode_gets_the_temperature_that_fits_it_on_new_speakers():
    """Large speaker offsets: a clip standardised alone keeps most of its speaker's offset, so the model is less
    sure of it than of a speaker's recordings standardised together, and each mode needs its own temperature."""
    X, y, groups = speakers_data(seed=3, speakers=12, rows=30)
    X += np.repeat(np.random.default_rng(4).normal(0, 3, (12, 20)), 30, 0)
    train, test = groups < "09", groups >= "09"
    params = TrainParams(model="logreg", normalize="speaker", scale=True, calibrate=True, calibrate_per_mode=True)
    params = TrainParams(**{**params.__dict__, "logreg": {"C": 1e4, "max_iter": 5000}})
    columns = [f"mfcc_mean_{i:02d}" for i in range(20)]
    model = fit_model(build_model(params, columns), X[train], y[train], groups[train], "speaker")
    temperatures = model[-1].temperatures_
    assert temperatures["alone"] > 1.2 * temperatures["together"]
    shared = dataclasses.replace(params, calibrate_per_mode=False)
    one = fit_model(build_model(shared, columns), X[train], y[train], groups[train], "speaker")[-1].temperatures_
    assert one["alone"] == one["together"] == pytest.approx(temperatures["together"])
    reference = reference_statistics(X[train], groups[train])
    together, alone = normalize_held_out(X[test], groups[test], "speaker", reference)
    raw = model[-1].classifier_.predict_proba(model[:-1].transform(alone))
    for mode, rows in (("together", together), ("alone", alone)):
        own = log_loss(y[test], calibrated_probabilities(model, rows, mode))
        other = log_loss(
            y[test],
            temper(
                model[-1].classifier_.predict_proba(model[:-1].transform(rows)),
                temperatures["alone" if mode == "together" else "together"],
            ),
        )
        assert own < other, mode
    assert calibrated_probabilities(model, alone, "alone") == pytest.approx(temper(raw, temperatures["alone"]))


@pytest.mark.parametrize("processes", [1, 3])
def test_a_progress_bar_redrawn_after_every_fit_leaves_the_temperatures_as_they_are(processes, monkeypatch):
    import io

    from tqdm import tqdm

    from ser.modeling import model as modeling

    rng = np.random.default_rng(0)
    X, y, speakers = rng.normal(size=(60, 8)), np.array(["a", "b", "c"] * 20), np.repeat(["1", "2", "3", "4"], 15)
    params = TrainParams(model="logreg", calibrate=True, normalize="speaker")
    columns = [f"mfcc_{i}" for i in range(8)]
    quiet = fit_model(build_model(params, columns), X, y, speakers, "speaker", processes=processes)
    redrawn = []  # a bar shown on a terminal redraws (its update returns True) after every fit here

    def shown(iterable=None, *, desc, unit="file", total=None, shown=True):
        redrawn.append(
            tqdm(iterable, desc=desc, unit=unit, total=total, file=io.StringIO(), disable=False, mininterval=0)
        )
        return redrawn[-1]

    monkeypatch.setattr(modeling, "progress_bar", shown)
    drawn = fit_model(build_model(params, columns), X, y, speakers, "speaker", progress=True, processes=processes)
    assert redrawn and redrawn[0].n == 4  # three calibration folds and the fit on every row
    assert drawn[-1].temperatures_ == quiet[-1].temperatures_
