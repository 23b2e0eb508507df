import pandas as pd
import pytest

from ser.config import ParamError, SplitParams
from ser.modeling.split import assign_split


def corpus(n_speakers=10, per_emotion=4):
    rows = [
        {"file": f"{s}-{e}-{i}", "speaker": f"{s:02d}", "emotion": e}
        for s in range(1, n_speakers + 1)
        for e in ("calm", "happy", "sad")
        for i in range(per_emotion)
    ]
    return pd.DataFrame(rows)


def test_speaker_split_never_shares_a_speaker():
    table = corpus()
    sets = assign_split(table, SplitParams(by="speaker", test_size=0.3, seed=5))
    train = set(table.loc[sets == "train", "speaker"])
    test = set(table.loc[sets == "test", "speaker"])
    assert train and test and not train & test
    assert len(test) == 3


def test_explicit_test_speakers_are_held_out():
    table = corpus()
    sets = assign_split(table, SplitParams(test_speakers=(1, "10")))
    assert set(table.loc[sets == "test", "speaker"]) == {"01", "10"}


def test_unknown_test_speaker_is_a_param_error():
    with pytest.raises(ParamError, match="split.test_speakers"):
        assign_split(corpus(), SplitParams(test_speakers=("99",)))


def test_random_split_is_stratified_and_shares_speakers():
    table = corpus()
    sets = assign_split(table, SplitParams(by="random", test_size=0.25, seed=5))
    test = table[sets == "test"]
    assert len(test) == 30
    assert test["emotion"].value_counts().tolist() == [10, 10, 10]
    assert set(test["speaker"]) & set(table.loc[sets == "train", "speaker"])


def test_split_is_deterministic():
    table = corpus()
    assert assign_split(table, SplitParams(seed=3)).equals(assign_split(table, SplitParams(seed=3)))
