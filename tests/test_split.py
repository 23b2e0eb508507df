from collections import Counter

import numpy as np
import pytest
from sklearn.model_selection import GroupShuffleSplit

from ser.config import ParamError, SplitParams
from ser.modeling.split import assign_split, held_out_speakers


def corpus(n_speakers=10, per_emotion=4) -> tuple[list[str], list[str]]:
    """Each file's speaker and emotion."""
    rows = [
        (f"{s:02d}", e) for s in range(1, n_speakers + 1) for e in ("calm", "happy", "sad") for _ in range(per_emotion)
    ]
    return [speaker for speaker, _ in rows], [emotion for _, emotion in rows]


def speakers_in(sets: list[str], speakers: list[str], side: str) -> set[str]:
    return {speaker for speaker, assigned in zip(speakers, sets) if assigned == side}


def test_speaker_split_never_shares_a_speaker():
    speakers, emotions = corpus()
    sets = assign_split(speakers, emotions, SplitParams(by="speaker", test_size=0.3, seed=5))
    train, test = speakers_in(sets, speakers, "train"), speakers_in(sets, speakers, "test")
    assert train and test and not train & test
    assert len(test) == 3


@pytest.mark.parametrize("n_speakers", [2, 3, 6, 10, 24])
@pytest.mark.parametrize("test_size", [0.1, 0.3, 0.5])
@pytest.mark.parametrize("seed", [0, 5, 123])
def test_held_out_speakers_are_scikit_learns_group_shuffle_split(n_speakers, test_size, seed):
    speakers, _ = corpus(n_speakers, per_emotion=2)
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    _, test = next(splitter.split(speakers, groups=speakers))
    assert held_out_speakers(speakers, test_size, seed) == set(np.asarray(speakers)[test])


def test_a_test_size_that_holds_out_every_speaker_is_a_param_error():
    speakers, emotions = corpus(n_speakers=2)
    with pytest.raises(ParamError, match="split.test_size"):
        assign_split(speakers, emotions, SplitParams(test_size=0.6))


def test_explicit_test_speakers_are_held_out():
    speakers, emotions = corpus()
    sets = assign_split(speakers, emotions, SplitParams(test_speakers=(1, "10")))
    assert speakers_in(sets, speakers, "test") == {"01", "10"}


def test_unknown_test_speaker_is_a_param_error():
    with pytest.raises(ParamError, match="split.test_speakers"):
        assign_split(*corpus(), SplitParams(test_speakers=("99",)))


def test_random_split_is_stratified_and_shares_speakers():
    speakers, emotions = corpus()
    sets = assign_split(speakers, emotions, SplitParams(by="random", test_size=0.25, seed=5))
    assert sets.count("test") == 30
    assert Counter(e for e, s in zip(emotions, sets) if s == "test") == {"calm": 10, "happy": 10, "sad": 10}
    assert speakers_in(sets, speakers, "test") & speakers_in(sets, speakers, "train")


def test_split_is_deterministic():
    speakers, emotions = corpus()
    assert assign_split(speakers, emotions, SplitParams(seed=3)) == assign_split(
        speakers, emotions, SplitParams(seed=3)
    )
