"""Perturbed copies (ser.features.augment): deterministic, the lengths and levels they promise; never trained on
where their source file is held out, through the library and the real stage scripts."""

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin

from ser.config import EvaluateParams
from ser.features.augment import (
    Perturbation,
    add_noise,
    coloured_noise,
    mu_law,
    perturb,
    pitch_shift,
    pseudo_speaker,
    room_response,
    seeded,
    speed,
    telephone,
    vtlp,
)
from ser.files import sha256_of
from ser.inference.bundle import load_bundle
from ser.modeling.calibration import CALIBRATION_FOLDS, TemperatureScaled
from ser.modeling.crossval import cross_validate_model
from ser.modeling.model import copies_of, fit_model
from tests.conftest import PROJECT
from tests.stagerun import run_stage

RATE = 16000


def voiced(seconds=1.0, f0=150.0, vibrato=0.05):
    """A harmonic tone (its fundamental the strongest partial) with a slow vibrato, at a speech-like level."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + vibrato * np.sin(2 * np.pi * 3 * t))) / RATE
    return (0.1 * sum(np.sin(k * phase) / k for k in range(1, 20))).astype(np.float32)


def peak_frequency(samples):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()]


def rms(samples):
    return np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2))


@pytest.mark.parametrize(
    "text",
    ["speed 0.9", "speed 1.1", "vtlp 0.9", "vtlp 1.1", "noise 15", "reverb 0.5", "pitch -2", "pitch 2", "phone 3400"],
)
def test_each_copy_is_the_same_for_the_same_arguments_and_differs_from_the_source(text):
    samples = voiced()
    copy = Perturbation.parse(text)
    first = perturb(samples, copy, RATE, speaker="01", file="a.wav")
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, perturb(samples, copy, RATE, speaker="01", file="a.wav"))
    assert np.abs(first).max() <= 1.0
    if len(first) == len(samples):
        assert np.sqrt(np.mean((first - samples) ** 2)) > 0.01 * np.sqrt(np.mean(samples**2))


@pytest.mark.parametrize("factor", [0.9, 1.1, 1.25])
def test_speed_changes_length_and_frequencies_by_the_factor(factor):
    tone = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE).astype(np.float32)
    out = speed(tone, factor)
    assert abs(len(out) - RATE / factor) <= 1
    assert peak_frequency(out) == pytest.approx(440 * factor, rel=0.01)


@pytest.mark.parametrize("warp", [0.9, 1.1])
def test_vtlp_keeps_the_length_and_level_and_moves_low_frequencies_by_the_warp(warp):
    tone = np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE).astype(np.float32)
    out = vtlp(tone, warp, RATE)
    assert len(out) == len(tone)
    assert np.sqrt(np.mean(out.astype(np.float64) ** 2)) == pytest.approx(np.sqrt(0.5), rel=1e-3)
    assert peak_frequency(out[2000:-2000]) == pytest.approx(1000 * warp, rel=0.02)


@pytest.mark.parametrize("semitones", [-2.0, 2.0, 5.0])
def test_pitch_shift_moves_f0_by_the_ratio_at_the_same_tempo_length_and_level(semitones):
    tone = voiced(seconds=1.5, vibrato=0.0)  # f0 150 Hz
    out = pitch_shift(tone, semitones, RATE)
    assert len(out) == len(tone)
    assert rms(out) == pytest.approx(rms(tone), rel=1e-3)
    assert peak_frequency(out[2000:-2000]) == pytest.approx(150 * 2 ** (semitones / 12), rel=0.01)
    burst = np.zeros(RATE, dtype=np.float32)  # a tone from 0.3 s to 0.7 s: it starts and ends where it did
    burst[int(0.3 * RATE) : int(0.7 * RATE)] = tone[: int(0.4 * RATE)]
    loud = np.flatnonzero(np.abs(pitch_shift(burst, semitones, RATE)) > 0.05 * np.abs(burst).max())
    assert loud[0] / RATE == pytest.approx(0.3, abs=0.02)
    assert loud[-1] / RATE == pytest.approx(0.7, abs=0.02)


@pytest.mark.parametrize("edge", [2000.0, 3400.0, 3800.0])
def test_the_telephone_passes_300_hz_to_the_edge_and_nothing_outside(edge):
    noise = (0.1 * np.random.default_rng(0).standard_normal(4 * RATE)).astype(np.float32)
    out = telephone(noise, edge, RATE)
    assert len(out) == len(noise) and out.dtype == np.float32
    power = np.abs(np.fft.rfft(out * np.hanning(len(out)))) ** 2
    frequencies = np.fft.rfftfreq(len(out), 1 / RATE)

    def level(low, high):  # dB against the white input's power spectrum through the same window
        reference = np.abs(np.fft.rfft(noise * np.hanning(len(noise)))) ** 2
        band = (frequencies >= low) & (frequencies < high)
        return 10 * np.log10(power[band].mean() / reference[band].mean())

    assert level(400, edge - 200) == pytest.approx(0.0, abs=1.0)  # the pass band, through 8-bit mu-law
    assert level(1.1 * edge, RATE / 2) < -50
    assert level(0, 200) < -50


def test_mu_law_keeps_a_sign_and_7_bits_of_companded_magnitude():
    ramp = np.linspace(-1.0, 1.0, 100001)
    coded = mu_law(ramp)
    assert len(np.unique(coded)) == 255  # 127 magnitudes of each sign, and zero
    assert mu_law(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    loud = np.abs(ramp) > 0.1
    assert np.max(np.abs(coded[loud] - ramp[loud]) / np.abs(ramp[loud])) < 0.03  # about 2 % relative, everywhere
    quiet = (np.abs(ramp) > 0.001) & (np.abs(ramp) < 0.01)
    assert np.max(np.abs(coded[quiet] - ramp[quiet])) < 0.001  # small steps near zero, where speech is quiet


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_noise_is_added_at_the_signal_to_noise_ratio(snr, exponent):
    samples = voiced().astype(np.float64)
    noise = add_noise(samples, snr, exponent, seeded(0, "x")).astype(np.float64) - samples
    measured = 10 * np.log10(np.mean(samples**2) / np.mean(noise**2))
    assert measured == pytest.approx(snr, abs=0.01)


def test_noise_colour_sets_the_spectral_slope():
    white, brown = (coloured_noise(RATE, exponent, seeded(1)) for exponent in (0.0, 2.0))
    for noise in (white, brown):
        assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)

    def low_share(x):
        power = np.abs(np.fft.rfft(x)) ** 2
        return power[: len(power) // 16].sum() / power.sum()

    assert low_share(white) == pytest.approx(1 / 16, rel=0.2)
    assert low_share(brown) > 0.9


def test_a_pseudo_speaker_shares_its_room_and_a_file_has_its_own_noise():
    samples = voiced()
    room = Perturbation.parse("reverb 0.5")
    noise = Perturbation.parse("noise 10")
    impulse = np.zeros(RATE, dtype=np.float32)
    impulse[100] = 0.5

    def response(speaker, file):
        return perturb(impulse, room, RATE, speaker=speaker, file=file)

    np.testing.assert_array_equal(response("01", "a.wav"), response("01", "b.wav"))
    assert not np.array_equal(response("01", "a.wav"), response("02", "a.wav"))
    a, b = (perturb(samples, noise, RATE, speaker="01", file=f) - samples for f in ("a.wav", "b.wav"))
    assert not np.allclose(a, b)
    assert not np.array_equal(perturb(samples, noise, RATE, speaker="01", file="a.wav", seed=1) - samples, a)


def test_room_response_decays_by_60_db_in_rt60():
    rt60 = 0.5
    response = room_response(rt60, RATE, seeded(0))
    assert len(response) == int(rt60 * RATE)
    assert np.sum(response**2) == pytest.approx(1.0)
    energy = np.cumsum(response[::-1] ** 2)[::-1]  # Schroeder's backward integral
    t = np.arange(len(response)) / RATE
    level = 10 * np.log10(energy / energy[0])
    slope = np.polyfit(t[(t > 0.05) & (t < 0.3)], level[(t > 0.05) & (t < 0.3)], 1)[0]
    assert slope == pytest.approx(-60 / rt60, rel=0.2)


@pytest.mark.parametrize(
    "text", ["speed", "speed fast", "speed 0.1", "echo 0.5", "noise 15 pink", "pitch 7", "phone 4000", "phone 300"]
)
def test_a_copy_outside_the_allowed_kinds_and_values_is_refused_naming_them(text):
    with pytest.raises(ValueError, match="speed 0.5..2"):
        Perturbation.parse(text)


def test_a_copys_name_is_its_kind_and_value():
    assert Perturbation.parse("speed 0.9").name == "speed0.9"
    assert Perturbation.parse("reverb 0.50").name == "reverb0.5"
    assert Perturbation.parse("pitch -2").name == "pitch-2"
    assert Perturbation.parse("pitch +2").name == "pitch2"
    assert Perturbation.parse("phone 3400").name == "phone3400"


class Recorder(ClassifierMixin, BaseEstimator):
    """A classifier that records, at each fit, the codes in column 0 of the rows it is given (a speaker's number,
    plus 100 for a copy of that speaker's files), then predicts the class prior."""

    def fit(self, X, y):
        FITS.append(set(np.rint(np.asarray(X)[:, 0]).astype(int)))
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


FITS: list[set] = []


def corpus_with_copies():
    """Six speakers of 10 rows; one copy of each row, column 0 the speaker's number (+ 100 in a copy)."""
    rng = np.random.default_rng(0)
    speakers = np.repeat([f"{i:02d}" for i in range(1, 7)], 10)
    X = np.column_stack([speakers.astype(int), rng.standard_normal((60, 3))])
    y = np.tile(["calm", "angry"], 30)
    copy = Perturbation.parse("noise 15")
    copies = (X + [100, 0, 0, 0], y, np.array([pseudo_speaker(s, copy) for s in speakers]), np.arange(60))
    return X, y, speakers, copies


def assert_copies_only_of_rows_trained_on():
    assert FITS
    for codes in FITS:
        originals, copied = {c for c in codes if c < 100}, {c - 100 for c in codes if c >= 100}
        assert copied == originals, codes  # every training speaker's copies, and no other speaker's


def test_copies_of_held_out_speakers_never_reach_a_fit():
    X, y, speakers, copies = corpus_with_copies()
    FITS.clear()
    model = TemperatureScaled(Recorder(), per_mode=False)  # its calibration fits copies on folds of the speakers
    train = np.flatnonzero(speakers != "06")
    fit_model(model, X[train], y[train], speakers[train], "none", copies=copies_of(copies, train))
    assert len(FITS) == CALIBRATION_FOLDS + 1
    assert FITS[-1] == {1, 2, 3, 4, 5, 101, 102, 103, 104, 105}
    assert_copies_only_of_rows_trained_on()
    FITS.clear()
    cross_validate_model(
        Recorder(),
        X,
        y,
        speakers,
        EvaluateParams(cv_folds=3),
        seed=0,
        normalization="none",
        n_jobs=1,
        copies=copies,
    )
    assert len(FITS) == 3
    assert_copies_only_of_rows_trained_on()


def test_copies_of_renumbers_the_sources_and_drops_the_rest():
    X, y, speakers, copies = corpus_with_copies()
    rows = np.flatnonzero(np.isin(speakers, ["02", "05"]))
    kept = copies_of(copies, rows)
    np.testing.assert_array_equal(kept[0], X[rows] + [100, 0, 0, 0])
    np.testing.assert_array_equal(kept[3], np.arange(len(rows)))
    assert set(kept[2]) == {"02~noise15", "05~noise15"}
    assert copies_of(None, rows) is None


def test_the_stages_make_the_copies_and_train_on_those_of_the_training_files_only(speech16k, tmp_path):
    """The real features, train and crossvalidate stage scripts with one copy: the features stage writes a copy of
    every file (its pseudo-speaker), train takes those of the training files, crossvalidate runs on them; the windows
    stage encodes the training clips' copies and train_timeline takes them."""
    files = [p for a in ("01", "02", "03", "04") for p in sorted((speech16k / f"Actor_{a}").glob("*.wav"))[:12]]
    rows = pd.DataFrame(
        {
            "file": [f"{p.parent.name}/{p.name}" for p in files],
            "path": [str(p) for p in files],
            "speaker": [p.stem[-2:] for p in files],
            "emotion": [["calm", "angry"][i % 2] for i in range(len(files))],
            "sha256": [sha256_of(p) for p in files],
        }
    )
    (tmp_path / "data").mkdir()
    rows.to_csv(tmp_path / "data/catalog.csv", index=False)
    split = rows[["file", "speaker", "emotion"]].assign(set=np.where(rows["speaker"] == "04", "test", "train"))
    split.to_csv(tmp_path / "data/split.csv", index=False)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["features"].update(families=["mfcc"], stats=["mean", "std"], n_mfcc=13, workers=1)
    params["features"]["augment"] = {"copies": ["noise 15"], "seed": 0}
    params["train"].update(model="logreg", calibrate=True)
    params["evaluate"]["cv_folds"] = 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    def stage(name, *args):
        done = run_stage(name, "--params", "params.yaml", *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stage("features", "--cache", str(tmp_path / "cache"))
    originals, copies = (pd.read_parquet(tmp_path / f"data/{name}.parquet") for name in ("features", "copies"))
    assert list(copies["file"]) == list(originals["file"])
    assert list(copies["speaker"]) == [f"{s}~noise15" for s in originals["speaker"]]
    columns = [c for c in originals.columns if c.startswith("mfcc")]
    assert not np.allclose(copies[columns].to_numpy(), originals[columns].to_numpy())
    assert "36 copies" in stage("train")  # of the 36 training files; the 12 of actor 04 are left out
    stage("crossvalidate")

    # the timeline's model trains on windows of the same copies of the training clips
    stage("windows")
    windows, window_copies = (pd.read_parquet(tmp_path / f"data/{n}.parquet") for n in ("windows", "window_copies"))
    assert set(window_copies["file"]) == set(windows["file"]) == set(rows["file"][rows["speaker"] != "04"])
    assert set(window_copies["speaker"]) == {f"{s}~noise15" for s in ("01", "02", "03")}
    assert f"and {len(window_copies)} of their copies" in stage("train_timeline")
    for bundle in ("model", "timeline_model"):  # each model's record says what it trained beside
        assert load_bundle(tmp_path / "data" / bundle)[1].data.copies == ("noise 15",)
