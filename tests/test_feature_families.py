"""The families and statistics beyond the notebook's: registry, names, shapes and sane values."""

import numpy as np
import pytest

from ser.config import FeatureParams
from ser.corpus.audio import load_audio
from ser.features import smile
from ser.features.extractor import FeatureExtractor
from ser.features.families import FAMILIES, feature_names
from ser.features.stats import STATS
from ser.names import FEATURE_FAMILIES, FEATURE_STATS
from tests.audiofiles import spread_files
from tests.conftest import require
from tests.test_descriptors import noise, tone

OWN = tuple(f for f in FEATURE_FAMILIES if FAMILIES[f].names is None and f != "whisper")  # the encoder: test_whisper.py
SR = 16000


def values(extractor, vector, family, stat):
    prefix = f"{family}_{stat}_"
    return vector[
        [i for i, name in enumerate(extractor.names) if name.startswith(prefix) and name[len(prefix) :].isdigit()]
    ]


def test_names_and_shapes_of_every_own_family_and_stat():
    params = FeatureParams(families=OWN, stats=FEATURE_STATS, n_mfcc=13)
    extractor = FeatureExtractor(params, SR)
    sizes = {f: FAMILIES[f].size(params) for f in OWN}
    assert sizes["mfcc_delta"] == sizes["mfcc_delta2"] == 13 and sizes["contrast"] == 7 and sizes["voicing"] == 2
    assert len(extractor.names) == len(set(extractor.names)) == sum(sizes.values()) * len(FEATURE_STATS)
    assert extractor.names == feature_names(params)
    assert "mfcc_delta_p90_12" in extractor.names and "f0_slope_00" in extractor.names
    vector = extractor(noise(2.0))
    assert vector.shape == (len(extractor.names),) and np.all(np.isfinite(vector))


def test_statistics_are_ordered_and_finite_on_speech(speech16k):
    extractor = FeatureExtractor(FeatureParams(families=OWN, stats=FEATURE_STATS), SR)
    for path in spread_files(speech16k, 12):
        vector = extractor(load_audio(path, SR))
        assert np.all(np.isfinite(vector)), path
        for family in OWN:
            low, p10, median, p90, high = (
                values(extractor, vector, family, s) for s in ("min", "p10", "median", "p90", "max")
            )
            assert np.all(low <= p10 + 1e-9) and np.all(p10 <= median + 1e-9), (path, family)
            assert np.all(median <= p90 + 1e-9) and np.all(p90 <= high + 1e-9), (path, family)
            assert np.all(values(extractor, vector, family, "std") >= 0)
        f0 = values(extractor, vector, "f0", "median")[0]
        assert 12 * np.log2(70 / 27.5) < f0 < 12 * np.log2(450 / 27.5), (path, "speaking pitch between 70 and 450 Hz")
        voiced_share = values(extractor, vector, "voicing", "mean")[1]
        assert 0.05 < voiced_share < 0.9, path  # speech with pauses around it
        assert 0 <= values(extractor, vector, "zcr", "max")[0] <= 1
        assert 0 <= values(extractor, vector, "flatness", "max")[0] <= 1


def test_pitch_families_on_a_tone_and_on_noise():
    extractor = FeatureExtractor(FeatureParams(families=("f0", "voicing"), stats=("median", "mean")), SR)
    vector = extractor(tone(220, seconds=2.0, harmonics=(1, 2, 3)))
    assert values(extractor, vector, "f0", "median")[0] == pytest.approx(12 * np.log2(220 / 27.5), abs=0.05)
    assert values(extractor, vector, "voicing", "mean")[1] > 0.9
    unvoiced = extractor(noise(2.0))
    assert values(extractor, unvoiced, "voicing", "mean")[1] < 0.1


def test_statistics_on_known_frames():
    ramp = np.vstack([np.arange(11.0), np.full(11, 4.0)])
    assert STATS["slope"](ramp).tolist() == pytest.approx([1.0, 0.0])
    assert STATS["std"](ramp)[1] == 0 and STATS["skew"](ramp).tolist() == pytest.approx([0.0, 0.0])
    assert STATS["p10"](ramp)[0] == pytest.approx(1.0) and STATS["p90"](ramp)[0] == pytest.approx(9.0)
    assert STATS["median"](ramp)[0] == 5 and STATS["min"](ramp)[0] == 0 and STATS["max"](ramp)[0] == 10
    normal = np.random.default_rng(0).standard_normal((1, 200000))
    assert STATS["kurtosis"](normal)[0] == pytest.approx(0, abs=0.05)
    skewed = np.random.default_rng(0).exponential(size=(1, 200000))
    assert STATS["skew"](skewed)[0] == pytest.approx(2, abs=0.1)  # the exponential's skewness is 2
    single = np.array([[3.0]])
    assert all(np.isfinite(STATS[name](single)).all() for name in STATS)


def test_egemaps_is_one_named_vector_equal_to_opensmiles(speech16k):
    opensmile = require("opensmile")
    extractor = FeatureExtractor(FeatureParams(families=("egemaps", "rms"), stats=("mean", "std")), SR)
    assert len(extractor.names) == 88 + 2
    assert extractor.names[0] == "egemaps_F0semitoneFrom27.5Hz_sma3nz_amean" and extractor.names[-1] == "rms_std_00"
    path = spread_files(speech16k, 1)[0]
    ours = extractor(load_audio(path, SR))[:88]
    reference = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02).process_file(str(path)).to_numpy()[0]
    np.testing.assert_allclose(ours, reference, rtol=1e-5)


def test_compare_names_the_6373_functionals():
    require("opensmile")  # whose configuration lists the functionals
    names = feature_names(FeatureParams(families=("compare",), stats=("mean", "std")))
    assert len(names) == 6373 and all(name.startswith("compare_") for name in names)
    assert names == [f"compare_{name}" for name in smile.feature_names("compare")]


def test_skew_and_kurtosis_equal_scipys_population_moments():
    import scipy.stats

    frames = np.random.default_rng(4).gamma(2.0, size=(5, 300)).astype(np.float32)
    np.testing.assert_allclose(STATS["skew"](frames), scipy.stats.skew(frames.astype(np.float64), axis=1), rtol=1e-9)
    np.testing.assert_allclose(
        STATS["kurtosis"](frames), scipy.stats.kurtosis(frames.astype(np.float64), axis=1), rtol=1e-9
    )
