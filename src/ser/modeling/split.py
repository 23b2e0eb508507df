"""Train/test assignment: by speaker (no speaker on both sides) or by stratified shuffle."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from ser.config import ParamError, SplitParams


def assign_split(table: pd.DataFrame, params: SplitParams) -> pd.Series:
    """Return ``"train"`` or ``"test"`` for each row of ``table`` (needs speaker and emotion)."""
    speakers = table["speaker"].astype(str)
    if params.by == "random":
        _, test_index = train_test_split(
            table.index, test_size=params.test_size, stratify=table["emotion"], random_state=params.seed
        )
        is_test = table.index.isin(test_index)
    elif params.test_speakers:
        unknown = sorted(set(params.test_speakers) - set(speakers))
        if unknown:
            raise ParamError(
                "split.test_speakers", f"speakers {unknown} are not in the data; allowed: {sorted(set(speakers))}"
            )
        is_test = speakers.isin(params.test_speakers).to_numpy()
        if is_test.all():
            raise ParamError("split.test_speakers", "holds out every speaker; leave at least one for training")
    else:
        if speakers.nunique() < 2:
            raise ParamError(
                "split.by",
                f"speaker needs at least 2 speakers, the data has {speakers.nunique()}; allowed here: random",
            )
        splitter = GroupShuffleSplit(n_splits=1, test_size=params.test_size, random_state=params.seed)
        _, test_positions = next(splitter.split(table, groups=speakers))
        is_test = pd.Series(False, index=table.index)
        is_test.iloc[test_positions] = True
        is_test = is_test.to_numpy()
    return pd.Series(["test" if t else "train" for t in is_test], index=table.index, name="set")
