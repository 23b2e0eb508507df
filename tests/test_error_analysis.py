"""Error-analysis pieces: predictions table, class counts, per-speaker scores, confused pairs, `ser report`."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from ser.cli import main
from ser.errors import SerError
from ser.modeling.metrics import per_speaker_scores
from ser.reports.error_analysis import (
    class_counts,
    confused_pairs,
    confusion_report,
    predictions_table,
    read_predictions,
)
from ser.reports.figures import speaker_uar_figure

CLASSES = ["angry", "calm", "sad"]


def labelled(n=90, seed=0, speakers=("01", "02", "03")):
    """Random actual and predicted labels (about half right) and a speaker per file."""
    rng = np.random.default_rng(seed)
    actual = rng.choice(CLASSES, n)
    predicted = np.where(rng.random(n) < 0.5, actual, rng.choice(CLASSES, n))
    return actual, predicted, rng.choice(speakers, n)


def frame_of(pairs: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A predictions frame from (speaker, actual, predicted) triples."""
    return pd.DataFrame(
        [{"file": f"f{i:03d}.wav", "speaker": s, "actual": a, "predicted": p} for i, (s, a, p) in enumerate(pairs)]
    )


def test_predictions_table_is_ordered_by_file_with_one_probability_column_per_class():
    probabilities = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05], [0.1234567891, 0.2, 0.6765432109]])
    table = predictions_table(
        ["c.wav", "a.wav", "b.wav"],
        ["02", "01", "01"],
        ["calm", "angry", "sad"],
        ["calm", "angry", "sad"],
        probabilities,
        CLASSES,
    )
    assert list(table.columns) == ["file", "speaker", "actual", "predicted", "p_angry", "p_calm", "p_sad"]
    assert list(table["file"]) == ["a.wav", "b.wav", "c.wav"]
    assert list(table["speaker"]) == ["01", "01", "02"]
    assert table.loc[0, "p_angry"] == 0.9 and table.loc[2, "p_calm"] == 0.5
    assert table.loc[1, "p_angry"] == 0.123457


def test_class_counts_add_up_and_keep_empty_cells():
    emotions = ["sad", "calm", "sad", "angry", "calm", "sad"]
    sets = ["train", "train", "test", "train", "train", "train"]
    counts = class_counts(emotions, sets)
    assert list(counts.columns) == ["emotion", "set", "count"]
    assert counts["count"].sum() == len(emotions)
    assert list(zip(counts["emotion"], counts["set"], counts["count"])) == [
        ("angry", "train", 1),
        ("angry", "test", 0),
        ("calm", "train", 2),
        ("calm", "test", 0),
        ("sad", "train", 2),
        ("sad", "test", 1),
    ]


def test_per_speaker_scores_match_scikit_learn_on_each_speakers_files():
    actual, predicted, speakers = labelled()
    scores = per_speaker_scores(actual, predicted, speakers)
    assert sorted(scores) == ["01", "02", "03"]
    for speaker, score in scores.items():
        mine = speakers == speaker
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
            assert score["uar"] == pytest.approx(balanced_accuracy_score(actual[mine], predicted[mine]))
        assert score["accuracy"] == pytest.approx(np.mean(actual[mine] == predicted[mine]))
        assert score["files"] == mine.sum()


def test_a_speaker_uar_averages_only_the_emotions_that_speaker_has():
    scores = per_speaker_scores(["calm", "calm", "calm", "sad"], ["calm", "sad", "sad", "sad"], ["01"] * 4)
    assert scores["01"] == {"uar": pytest.approx((1 / 3 + 1) / 2), "accuracy": 0.5, "files": 4}


def test_confused_pairs_count_mistakes_most_first_ties_by_name():
    frame = frame_of(
        [("01", "calm", "sad")] * 3
        + [("01", "sad", "calm")] * 2
        + [("02", "angry", "calm")] * 2
        + [("02", "angry", "angry")] * 2
        + [("01", "calm", "calm")]
        + [("02", "sad", "angry")]
    )
    pairs = confused_pairs(frame, top=3)
    assert list(zip(pairs["actual"], pairs["predicted"], pairs["count"])) == [
        ("calm", "sad", 3),
        ("angry", "calm", 2),
        ("sad", "calm", 2),
    ]
    assert pairs.loc[0, "share"] == pytest.approx(3 / 4) and pairs.loc[0, "of"] == 4
    assert confused_pairs(frame[frame["actual"] == frame["predicted"]]).empty


def test_report_lists_overall_pairs_then_speakers_worst_first():
    frame = frame_of(
        [("01", "calm", "sad")] * 2 + [("01", "sad", "sad")] * 2 + [("02", "calm", "calm")] * 2 + [("02", "sad", "sad")]
    )
    text = confusion_report(frame, top=5)
    lines = text.splitlines()
    assert lines[0] == "7 files, 2 speakers: accuracy 0.714, UAR 0.750"
    assert lines[3].split() == ["calm", "->", "sad", "2", "(50%", "of", "4", "calm)"]
    assert text.index("Speaker 01 (4 files): UAR 0.500") < text.index("Speaker 02 (3 files): UAR 1.000")
    assert text.rstrip().endswith("(no confusions)")


def test_read_predictions_refuses_what_is_not_a_predictions_file(tmp_path):
    with pytest.raises(SerError, match="missing.csv not found; run `dvc repro evaluate`"):
        read_predictions(tmp_path / "missing.csv")
    other = tmp_path / "other.csv"
    other.write_text("actual,predicted\ncalm,sad\n")
    with pytest.raises(SerError, match=r"other.csv lacks the columns \['file', 'speaker'\]"):
        read_predictions(other)
    other.write_text("file,speaker,actual,predicted\n")
    with pytest.raises(SerError, match="other.csv has no rows"):
        read_predictions(other)


def test_ser_report_command(tmp_path, capsys):
    path = tmp_path / "predictions.csv"
    frame_of([("01", "calm", "sad"), ("01", "sad", "sad"), ("02", "calm", "calm")]).to_csv(path, index=False)
    assert main(["report", str(path), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 files, 2 speakers") and "Speaker 01 (2 files)" in out
    assert main(["report", str(tmp_path / "none.csv")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: ")
    with pytest.raises(SystemExit):
        main(["report", str(path), "--top", "0"])


def test_speaker_figure_sorts_bars_and_draws_the_mean():
    scores = {"01": {"uar": 0.7}, "02": {"uar": 0.3}, "03": {"uar": 0.5}}
    axes = speaker_uar_figure(scores, "test").axes[0]
    assert [bar.get_height() for bar in axes.patches] == [0.3, 0.5, 0.7]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["02", "03", "01"]
    assert axes.lines[0].get_ydata()[0] == pytest.approx(0.5)
