"""bench/select_defaults.py, the procedure that chose the shipped defaults, runs the library's nested
leave-one-speaker-out and gives, on a small synthetic table, exactly what its own loop gave before (the values
below were measured with that loop: per fold the chosen feature set and MLP, the outer scores of the MLP and of
the linear baseline, the temperature of speakers' recordings together; the calibration errors with it; the choice
on every speaker). The temperature of lone clips, the errors with it and the enrollment scores were measured when
they were added; ``--choices`` reruns step 3 alone and gives the same result."""

import importlib.util
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ser.features.table import feature_columns
from tests.conftest import PROJECT

FOLDS = [  # speaker, feature set, MLP setting, MLP UAR, MLP one-clip UAR, baseline UAR, its one-clip UAR,
    # temperature together, temperature alone, MLP UAR of one clip with 1, 2, 4 enrollment recordings
    (
        "01",
        "layers 1-6 + handcrafted",
        "MLP 16, alpha 3",
        0.6,
        0.333333,
        0.6,
        0.333333,
        0.495786,
        1.432,
        0.333333,
        0.466667,
        0.533333,
    ),
    (
        "02",
        "layers 1-6 + handcrafted",
        "MLP 16, alpha 3",
        0.733333,
        0.466667,
        0.733333,
        0.733333,
        0.602748,
        1.980394,
        0.6,
        0.6,
        0.666667,
    ),
    (
        "03",
        "layers 1-6 + handcrafted",
        "MLP 16, alpha 3",
        0.933333,
        0.4,
        0.8,
        0.6,
        0.543574,
        1.866668,
        0.4,
        0.533333,
        0.8,
    ),
    (
        "04",
        "layers 2-4 + handcrafted",
        "MLP 16, alpha 3",
        0.933333,
        0.466667,
        0.866667,
        0.4,
        0.37887,
        2.532398,
        0.533333,
        0.6,
        0.666667,
    ),
    (
        "05",
        "layers 2-4 + handcrafted",
        "MLP 16, alpha 3",
        0.8,
        0.333333,
        0.8,
        0.333333,
        0.284006,
        2.429197,
        0.333333,
        0.466667,
        0.533333,
    ),
]
ECE = {
    "calibrated": 0.083067,
    "uncalibrated": 0.12713,
    "calibrated_one_clip": 0.249398,
    "one_temperature_one_clip": 0.511565,
    "uncalibrated_one_clip": 0.40149,
    "calibrated_enrolled_1": 0.242639,
    "one_temperature_enrolled_1": 0.464591,
    "calibrated_enrolled_2": 0.116786,
    "one_temperature_enrolled_2": 0.338607,
    "calibrated_enrolled_4": 0.111114,
    "one_temperature_enrolled_4": 0.234902,
}
DEFAULT_SET_SCORES = {
    "layer 6 (the previous default)": 0.372222,
    "layers 2-4": 0.577778,
    "layers 1-6": 0.577778,
    "layers 2-4 + handcrafted": 0.683333,
    "layers 1-6 + handcrafted": 0.672222,
}
DEFAULT_MLP_SCORES = {"MLP 8, alpha 0.1": 0.605556, "MLP 16, alpha 3": 0.75}


def synthetic_table(seed: int = 0) -> pd.DataFrame:
    """Five speakers, three emotions, five files each; two whisper columns per layer 1-6 and three handcrafted
    columns. Layers 2-4 carry the emotion clearly, the others faintly; every speaker has its own offset."""
    rng = np.random.default_rng(seed)
    speakers = np.repeat([f"{i:02d}" for i in range(1, 6)], 15)
    emotions = np.tile(np.repeat(["happy", "neutral", "sad"], 5), 5)
    label = np.unique(emotions, return_inverse=True)[1].astype(float)
    columns = {}
    for layer in range(1, 7):
        strength = 1.0 if layer in (2, 3, 4) else 0.3
        for j in range(2):
            signal = strength * (label if j == 0 else -label)
            columns[f"whisper_layer{layer}_mean_{j}"] = signal + rng.standard_normal(75)
    for name in ("mfcc_mean_0", "mfcc_mean_1", "rms_mean"):
        columns[name] = 0.5 * label + rng.standard_normal(75)
    X = pd.DataFrame(columns) + np.repeat(rng.uniform(-5, 5, (5, len(columns))), 15, axis=0)
    return pd.concat(
        [pd.DataFrame({"file": [f"{i:03d}.wav" for i in range(75)], "speaker": speakers, "emotion": emotions}), X],
        axis=1,
    )


@pytest.fixture
def select_defaults(monkeypatch):
    spec = importlib.util.spec_from_file_location("select_defaults", PROJECT / "bench" / "select_defaults.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    small = {
        "MLP 8, alpha 0.1": dict(hidden_layer_sizes=(8,), alpha=0.1),
        "MLP 16, alpha 3": dict(hidden_layer_sizes=(16,), alpha=3.0),
    }
    monkeypatch.setattr(
        module,
        "MLPS",
        {name: replace(module.BASE, ensemble=1, max_iter=300, **settings) for name, settings in small.items()},
    )
    return module


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_select_defaults_gives_what_its_own_loop_gave(select_defaults):
    table = synthetic_table()
    columns = feature_columns(table)
    result = select_defaults.selection(
        columns, table[columns].to_numpy(), table["emotion"].to_numpy(), table["speaker"].to_numpy(), jobs=1
    )
    found = [
        (
            f["speaker"],
            f["feature_set"],
            f["mlp_setting"],
            f["mlp"]["uar"],
            f["mlp"]["uar_one_clip"],
            f["logreg"]["uar"],
            f["logreg"]["uar_one_clip"],
            f["mlp"]["temperature"]["together"],
            f["mlp"]["temperature"]["alone"],
            *(f["mlp"][f"uar_enrolled_{k}"] for k in (1, 2, 4)),
        )
        for f in result["folds"]
    ]
    assert [fold[:3] for fold in found] == [fold[:3] for fold in FOLDS]
    assert [fold[3:] for fold in found] == [pytest.approx(fold[3:], abs=1e-6) for fold in FOLDS]
    assert result["ece"] == pytest.approx(ECE, abs=1e-6)
    defaults = result["defaults"]
    assert (defaults["feature_set"], defaults["mlp"]) == ("layers 2-4 + handcrafted", "MLP 16, alpha 3")
    assert defaults["inner"] == {
        "feature_sets": pytest.approx(DEFAULT_SET_SCORES, abs=1e-6),
        "mlps": pytest.approx(DEFAULT_MLP_SCORES, abs=1e-6),
    }
    for label, keys in (("mlp", ("uar", "uar_one_clip", "uar_enrolled_4")), ("logreg", ("uar", "uar_one_clip"))):
        for key in keys:
            values = [f[label][key] for f in result["folds"]]
            assert result["summary"][label][key] == pytest.approx((np.mean(values), np.std(values)))
    again = select_defaults.selection(
        columns,
        table[columns].to_numpy(),
        table["emotion"].to_numpy(),
        table["speaker"].to_numpy(),
        jobs=1,
        choices=json.loads(json.dumps(result)),
    )
    assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True)
