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


def read_predictions(path, labels=None, actual_column: str | None = None) -> pd.DataFrame:
    """Per-file predictions with ``file, speaker, actual, predicted``; a clear error if ``path`` holds none.

    ``path`` is the evaluate stage's predictions.csv, or ``ser predict --format csv`` output (``file, emotion,
    <class>...``), whose true emotions come from column ``actual_column`` or from each file's name by ``labels``
    (a function of the file giving its ``{"speaker", "emotion"}``, raising :class:`SerError` when the name tells
    none). A predict CSV's speakers are those ``labels`` gives, else its ``speaker`` column, else one unnamed
    speaker.
    """
    try:
        text_columns = (*PREDICTION_KEYS, "emotion", *([actual_column] if actual_column else []))
        frame = pd.read_csv(path, dtype=dict.fromkeys(text_columns, str), keep_default_na=False)
    except FileNotFoundError:
        raise SerError(f"{path} not found; run `dvc repro evaluate` to write it, or pass its path") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise SerError(f"{path} is not a readable CSV ({error}); re-run `dvc repro evaluate`") from None
    if {"file", "emotion"} <= set(frame.columns) and "actual" not in frame.columns:
        frame = _scored_predict_output(frame, path, labels, actual_column)
    missing = [key for key in PREDICTION_KEYS if key not in frame.columns]
    if missing:
        raise SerError(
            f"{path} lacks the columns {missing}; give plots/predictions.csv from the evaluate stage, or the "
            "output of ser predict --format csv"
        )
    if frame.empty:
        raise SerError(f"{path} has no rows; re-run `dvc repro evaluate`")
    return frame


def _scored_predict_output(frame: pd.DataFrame, path, labels, actual_column: str | None) -> pd.DataFrame:
    """``ser predict --format csv`` rows as ``file, speaker, actual, predicted`` (see :func:`read_predictions`)."""
    if actual_column is None and labels is None:
        raise SerError(
            f"{path} is ser predict output, which does not hold the true emotions: give --convention NAME to read "
            "them from the file names, or --actual-column COLUMN"
        )
    if actual_column is not None and actual_column not in frame.columns:
        raise SerError(f"{path} has no column {actual_column!r} (it has {', '.join(frame.columns)}); name another")
    named = []
    for row, file in enumerate(frame["file"], start=2):  # line numbers of the file: its header is line 1
        try:
            named.append(labels(file) if labels is not None else {})
        except SerError as error:
            raise SerError(
                f"{path} line {row}: {file}: {error}; give another --convention, or the true emotions as a "
                "column (--actual-column)"
            ) from None
    actual = frame[actual_column].str.strip().str.lower() if actual_column else [n["emotion"] for n in named]
    if labels is not None:
        speakers = [n["speaker"] for n in named]
    else:
        speakers = frame["speaker"] if "speaker" in frame.columns else ["(unnamed)"] * len(frame)
    scored = pd.DataFrame({"file": frame["file"], "speaker": speakers, "actual": actual, "predicted": frame["emotion"]})
    empty = scored.index[scored["actual"] == ""]
    if len(empty):
        raise SerError(f"{path} line {empty[0] + 2}: no true emotion in column {actual_column!r}; fill it in")
    return scored


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
