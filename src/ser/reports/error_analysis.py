"""Error analysis: per-file predictions, class counts, and the most confused pairs overall and per speaker.

Everything here needs only labels, speakers and (for the predictions table) the
model's class probabilities, so it works for any model with ``predict_proba``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ser.errors import SerError
from ser.modeling.metrics import per_speaker_scores, summary_scores

PREDICTION_KEYS = ("file", "speaker", "actual", "predicted")
PROBABILITY_PREFIX = "p_"  # predictions.csv: one column p_<emotion> per class
SETS = ("train", "test")


def predictions_table(files, speakers, actual, predicted, probabilities: np.ndarray, classes) -> pd.DataFrame:
    """One row per file, ordered by file name: file, speaker, actual, predicted, then p_<class> per class."""
    columns = {"file": files, "speaker": speakers, "actual": actual, "predicted": predicted}
    frame = pd.DataFrame({key: np.asarray(values) for key, values in columns.items()})  # by position, not index
    for i, label in enumerate(classes):
        frame[PROBABILITY_PREFIX + label] = np.round(probabilities[:, i], 6)
    return frame.sort_values("file", kind="stable").reset_index(drop=True)


def class_counts(emotions, sets) -> pd.DataFrame:
    """Files per emotion and set (train, test), zero counts included, as columns emotion, set, count."""
    counts = pd.crosstab(pd.Series(emotions, name="emotion"), pd.Series(sets, name="set"))
    counts = counts.reindex(columns=list(SETS), fill_value=0).sort_index()
    return counts.stack().rename("count").reset_index()


def read_predictions(path) -> pd.DataFrame:
    """A predictions.csv written by the evaluate stage; a clear error if it is not one."""
    try:
        frame = pd.read_csv(path, dtype={key: str for key in PREDICTION_KEYS}, keep_default_na=False)
    except FileNotFoundError:
        raise SerError(f"{path} not found; run `dvc repro evaluate` to write it, or pass its path") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise SerError(f"{path} is not a readable CSV ({error}); re-run `dvc repro evaluate`") from None
    missing = [key for key in PREDICTION_KEYS if key not in frame.columns]
    if missing:
        raise SerError(f"{path} lacks the columns {missing}; it must be plots/predictions.csv from the evaluate stage")
    if frame.empty:
        raise SerError(f"{path} has no rows; re-run `dvc repro evaluate`")
    return frame


def confused_pairs(frame: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The ``top`` most frequent (actual, predicted) mistakes: count and share of that actual emotion's files.

    Ties are broken by name, so the order is stable.
    """
    support = frame["actual"].value_counts()
    wrong = frame[frame["actual"] != frame["predicted"]]
    pairs = wrong.groupby(["actual", "predicted"]).size().rename("count").reset_index()
    pairs["of"] = pairs["actual"].map(support).astype(int)
    pairs["share"] = pairs["count"] / pairs["of"]
    pairs = pairs.sort_values(["count", "actual", "predicted"], ascending=[False, True, True], kind="stable")
    return pairs.head(top).reset_index(drop=True)


def _pair_lines(pairs: pd.DataFrame, width: int) -> list[str]:
    if pairs.empty:
        return ["  (no confusions)"]
    return [
        f"  {f'{row.actual} -> {row.predicted}':<{width}}  {row.count:>4}  ({row.share:.0%} of {row.of} {row.actual})"
        for row in pairs.itertuples()
    ]


def confusion_report(frame: pd.DataFrame, top: int = 5) -> str:
    """The most confused pairs overall, then for each speaker (lowest UAR first)."""
    scores = per_speaker_scores(frame["actual"], frame["predicted"], frame["speaker"])
    actual, predicted = frame["actual"], frame["predicted"]
    width = 2 * max(len(label) for label in set(actual) | set(predicted)) + len(" -> ")
    lines = [
        f"{len(frame)} files, {len(scores)} speakers: accuracy {np.mean(actual == predicted):.3f}, "
        f"UAR {summary_scores(actual, predicted)['uar']:.3f}",
        "",
        "Most confused pairs overall (actual -> predicted, files):",
    ]
    lines += _pair_lines(confused_pairs(frame, top), width)
    for speaker in sorted(scores, key=lambda s: (scores[s]["uar"], s)):
        score = scores[speaker]
        lines += [
            "",
            f"Speaker {speaker} ({score['files']} files): UAR {score['uar']:.3f}, accuracy {score['accuracy']:.3f}",
        ]
        lines += _pair_lines(confused_pairs(frame[frame["speaker"] == speaker], top), width)
    return "\n".join(lines)
