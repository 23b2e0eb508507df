"""Train/test assignment: by speaker (no speaker on both sides) or by stratified shuffle."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ser.config import ParamError, SplitParams


def assign_split(speakers: Sequence[str], emotions: Sequence[str], params: SplitParams) -> list[str]:
    """Return ``"train"`` or ``"test"`` for each file, given each file's speaker and emotion."""
    speakers = [str(speaker) for speaker in speakers]
    if params.by == "random":
        from sklearn.model_selection import train_test_split  # only this mode needs scikit-learn (1.5 s to import)

        _, test_rows = train_test_split(
            range(len(speakers)), test_size=params.test_size, stratify=list(emotions), random_state=params.seed
        )
        held_out = set(test_rows)
        return ["test" if row in held_out else "train" for row in range(len(speakers))]
    if params.test_speakers:
        unknown = sorted(set(params.test_speakers) - set(speakers))
        if unknown:
            raise ParamError(
                "split.test_speakers", f"speakers {unknown} are not in the data; allowed: {sorted(set(speakers))}"
            )
        test = set(params.test_speakers)
        if test >= set(speakers):
            raise ParamError("split.test_speakers", "holds out every speaker; leave at least one for training")
    else:
        test = held_out_speakers(speakers, params.test_size, params.seed)
    return ["test" if speaker in test else "train" for speaker in speakers]


def held_out_speakers(speakers: Sequence[str], test_size: float, seed: int) -> set[str]:
    """The speakers scikit-learn's ``GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)`` holds
    out, by its algorithm without importing it: the first ``ceil(test_size * n)`` of a permutation by numpy's
    ``RandomState(seed)`` of the ``n`` speakers in sorted order (tests/test_split.py holds the two equal)."""
    names = sorted(set(speakers))
    if len(names) < 2:
        raise ParamError(
            "split.by", f"speaker needs at least 2 speakers, the data has {len(names)}; allowed here: random"
        )
    count = math.ceil(test_size * len(names))
    if count >= len(names):
        raise ParamError(
            "split.test_size",
            f"got {test_size}, which holds out all {len(names)} speakers; allowed: at most "
            f"{(len(names) - 1) / len(names):.3g} with this corpus",
        )
    return {names[i] for i in np.random.RandomState(seed).permutation(len(names))[:count]}
