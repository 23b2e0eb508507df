"""The real pipeline under real DVC, in a temporary git repository, on the demo corpus."""

import csv
import io
import json
import re
import sys
import time
import warnings
from collections import Counter

import pandas as pd
import pytest
import yaml
from sklearn.metrics import balanced_accuracy_score

from ser.reports.breakdowns import CLASS_SCORES, CROSSVAL_FOLDS, CROSSVAL_SPEAKER_SCORES, SPEAKER_SCORES, read_scores
from tests.conftest import PROJECT
from tests.dvcrepo import DvcRepo

pytestmark = pytest.mark.slow
ALL_STAGES = [
    "ingest",
    "features",
    "split",
    "train",
    "evaluate",
    "crossvalidate",
    "windows",
    "train_timeline",
    "timeline",
    "bundle",
    "plots_template",
]
EXPLORE_FIGURES = ["harmonic_percussive", "mel_spectrogram", "mfcc", "onset_autocorrelation", "waveform"]
METRICS = ("metrics/ingest.json", "metrics/evaluate.json", "metrics/crossval.json", "metrics/timeline.json")
EMOTIONS = {"neutral", "calm", "happy", "disgust"}
PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text())


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = DvcRepo(tmp_path_factory.mktemp("pipeline"))
    before = repo.snapshot()
    repo.dvc("repro")
    first = repo.changes_since(before)
    assert first.stages == ALL_STAGES
    ingested = json.loads((repo.root / "metrics/ingest.json").read_text())
    assert ingested["rejected"] == 0 and (first.decoded, first.unchanged) == (ingested["files"], 0)  # a fresh cache
    repo.commit("baseline run")
    return repo


def scores(repo, name: str) -> dict[str, dict]:
    """A breakdown table of plots/ (ser.reports.breakdowns), by its first column."""
    return read_scores(
        repo.root / "plots" / name,
        "emotion" if name == CLASS_SCORES else "fold" if name == CROSSVAL_FOLDS else "speaker",
    )


def numbers(values) -> int:
    """How many numbers a `dvc metrics show --json` entry holds, at any depth."""
    if isinstance(values, dict):
        return sum(numbers(value) for value in values.values())
    return isinstance(values, (int, float)) and not isinstance(values, bool)


def test_repro_writes_metrics_and_plots(repo):
    evaluate = json.loads((repo.root / "metrics/evaluate.json").read_text())
    assert set(scores(repo, CLASS_SCORES)) == EMOTIONS
    assert evaluate["uar"] > 0.4, "the demo corpus must be learnable well above chance (0.25)"
    crossval = json.loads((repo.root / "metrics/crossval.json").read_text())
    assert crossval["folds"] == 5 and list(scores(repo, CROSSVAL_FOLDS)) == ["1", "2", "3", "4", "5"]
    for name in (
        "confusion.png",
        "roc.png",
        "precision_recall.png",
        "loss.png",
        "predictions.csv",
        "loss.csv",
        "class_counts.csv",
        "class_counts.png",
        "speaker_uar.png",
        "crossval_speaker_uar.png",
    ):
        assert (repo.root / "plots" / name).stat().st_size > 0
    for name, columns in (
        ("roc.csv", ["emotion", "fpr", "tpr"]),
        ("precision_recall.csv", ["emotion", "recall", "precision"]),
    ):
        points = read_csv(repo.root / "plots" / name)
        assert list(points[0]) == columns and {row["emotion"] for row in points} == EMOTIONS


def test_metrics_files_hold_only_headline_numbers(repo):
    """`dvc metrics show` (and so `dvc exp show`) lists a column per number: each file keeps at most 20, the
    breakdowns are tables."""
    shown = json.loads(repo.dvc("metrics", "show", "--json").stdout)[""]["data"]
    assert sorted(shown) == sorted(METRICS)
    counts = {path: numbers(entry["data"]) for path, entry in shown.items()}
    assert all(0 < count <= 20 for count in counts.values()), counts
    for path in ("metrics/evaluate.json", "metrics/crossval.json"):
        assert all(not isinstance(value, (dict, list)) for value in shown[path]["data"].values()), path
    explore = sorted(p.stem for p in (repo.root / "plots/explore").iterdir())
    assert explore == EXPLORE_FIGURES


def test_bundle_carries_the_metrics_and_a_card(repo):
    bundle = repo.root / "model"
    assert sorted(p.name for p in bundle.iterdir()) == ["MODEL_CARD.md", "model.json", "model.skops", "timeline"]
    assert (bundle / "model.skops").read_bytes() == (repo.root / "data/model/model.skops").read_bytes()
    for name in ("model.json", "model.skops"):  # the timeline model as train_timeline wrote it
        assert (bundle / "timeline" / name).read_bytes() == (repo.root / "data/timeline_model" / name).read_bytes()
    info = json.loads((bundle / "model.json").read_text())
    evaluate = json.loads((repo.root / "metrics/evaluate.json").read_text())
    crossval = json.loads((repo.root / "metrics/crossval.json").read_text())
    assert info["metrics"]["test"] == {
        **evaluate,
        "per_class": scores(repo, CLASS_SCORES),
        "test_speakers": sorted(scores(repo, SPEAKER_SCORES)),
    }
    assert info["metrics"]["crossval"] == crossval
    assert info["classes"] == sorted(scores(repo, CLASS_SCORES))
    card = (bundle / "MODEL_CARD.md").read_text()
    assert f"| UAR (balanced accuracy), many recordings of a speaker | {evaluate['uar']:.3f} |" in card
    assert f"| UAR, one recording at a time | {evaluate['uar_one_clip']:.3f} |" in card
    assert "**Speaker-independent**" in card and "synthetic" in card
    assert "standardised per speaker" in card and "Whisper's encoder, layers 2, 3, 4: mean, std of each layer" in card
    assert "temperature-scaled" in card and f"error (10 bins of the top probability) is {evaluate['ece']:.3f}" in card


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def predict_test_files(repo) -> dict[str, str]:
    """`ser predict` (default --model) on the test-set files: the emotion predicted for each file name."""
    split = {row["file"]: row["set"] for row in read_csv(repo.root / "data/split.csv")}
    test = {
        row["path"]: row["file"] for row in read_csv(repo.root / "data/catalog.csv") if split[row["file"]] == "test"
    }
    run = repo.run(sys.executable, "-m", "ser", "predict", "--format", "csv", *test)
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert [row["file"] for row in rows] == list(test)  # ser predict's file column: the path as given
    return {test[row["file"]]: row["emotion"] for row in rows}


def test_predict_from_audio_matches_the_evaluate_stage_and_ignores_params_changes(repo):
    evaluated = {row["file"]: row["predicted"] for row in read_csv(repo.root / "plots/predictions.csv")}
    assert predict_test_files(repo) == evaluated
    original = (repo.root / "params.yaml").read_text()
    repo.set_params(audio={"sample_rate": 8000}, features={"n_mfcc": 13, "n_fft": 1024})
    try:
        assert predict_test_files(repo) == evaluated
    finally:
        (repo.root / "params.yaml").write_text(original)


def test_error_analysis_outputs_agree_with_the_manifest_split_and_metrics(repo):
    manifest = read_csv(repo.root / "data/catalog.csv")
    split = {row["file"]: row["set"] for row in read_csv(repo.root / "data/split.csv")}
    classes = sorted(scores(repo, CLASS_SCORES))

    predictions = read_csv(repo.root / "plots/predictions.csv")
    assert list(predictions[0]) == ["file", "speaker", "actual", "predicted", *(f"p_{c}" for c in classes)]
    expected = sorted((row["file"], row["speaker"], row["emotion"]) for row in manifest if split[row["file"]] == "test")
    assert [(row["file"], row["speaker"], row["actual"]) for row in predictions] == expected
    for row in predictions:
        assert sum(float(row[f"p_{c}"]) for c in classes) == pytest.approx(1, abs=1e-4)

    counts = read_csv(repo.root / "plots/class_counts.csv")
    assert list(counts[0]) == ["emotion", "set", "count"]
    assert sum(int(row["count"]) for row in counts) == len(manifest)
    tally = Counter((row["emotion"], split[row["file"]]) for row in manifest)
    assert {(row["emotion"], row["set"]): int(row["count"]) for row in counts if int(row["count"])} == tally

    per_speaker = scores(repo, SPEAKER_SCORES)
    assert sorted(per_speaker) == sorted({row["speaker"] for row in manifest if split[row["file"]] == "test"})
    for speaker, score in per_speaker.items():
        mine = [row for row in predictions if row["speaker"] == speaker]
        actual, predicted = [row["actual"] for row in mine], [row["predicted"] for row in mine]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
            assert score["uar"] == pytest.approx(balanced_accuracy_score(actual, predicted))
        assert score["files"] == len(mine)
        assert score["accuracy"] == pytest.approx(sum(a == p for a, p in zip(actual, predicted)) / len(mine))

    crossval = json.loads((repo.root / "metrics/crossval.json").read_text())
    folds = scores(repo, CROSSVAL_FOLDS)
    held_out = [speaker for fold in folds.values() for speaker in fold["test_speakers"].split()]
    assert len(folds) == crossval["folds"]
    assert (
        sorted(held_out)
        == sorted({row["speaker"] for row in manifest})
        == sorted(scores(repo, CROSSVAL_SPEAKER_SCORES))
    )
    assert crossval["uar_mean"] == pytest.approx(sum(fold["uar"] for fold in folds.values()) / len(folds))


def test_ser_report_reads_the_predictions(repo):
    evaluate = json.loads((repo.root / "metrics/evaluate.json").read_text())
    per_speaker = scores(repo, SPEAKER_SCORES)
    text = repo.run(sys.executable, "-m", "ser", "report").stdout
    assert text.startswith(
        f"{evaluate['test_files']} files, {len(per_speaker)} speakers: "
        f"accuracy {evaluate['accuracy']:.3f}, UAR {evaluate['uar']:.3f}"
    )
    for speaker, score in per_speaker.items():
        assert f"Speaker {speaker} ({score['files']} files): UAR {score['uar']:.3f}" in text


def vega_specs(html: str) -> dict[str, dict]:
    """The Vega-Lite specs in a `dvc plots show` page, by the id of the element each is drawn in."""
    found = re.findall(r"^\s*var spec = (\{.*\});\n\s*vegaEmbed\('#(\w+)', spec\);$", html, flags=re.M)
    return {element: json.loads(spec) for spec, element in found}


def test_plots_show_draws_class_counts_and_the_confusion_from_predictions(repo, tmp_path):
    repo.dvc("plots", "show", "-o", str(tmp_path))
    html = (tmp_path / "index.html").read_text()
    specs = vega_specs(html)
    counts = specs["plots_class_counts_csv"]["data"]["values"]
    expected = read_csv(repo.root / "plots/class_counts.csv")
    assert sorted((p["emotion"], p["set"], str(p["count"])) for p in counts) == sorted(
        (row["emotion"], row["set"], row["count"]) for row in expected
    )
    confusion = specs["plots_predictions_csv"]["data"]["values"]
    predictions = read_csv(repo.root / "plots/predictions.csv")
    assert sorted((p["actual"], p["predicted"]) for p in confusion) == sorted(
        (row["actual"], row["predicted"]) for row in predictions
    )
    for figure in ("class_counts.png", "speaker_uar.png", "crossval_speaker_uar.png"):
        assert (tmp_path / "static" / f"workspace_plots_{figure}").stat().st_size > 0
    # one ROC and one precision-recall plot, a line (colour) per emotion, titled with what they show
    curves = {name: spec for name, spec in specs.items() if spec["title"]["text"].endswith("one-vs-rest (test set)")}
    assert sorted(curves) == ["plots_precision_recall_csv", "plots_roc_csv"]
    assert curves["plots_roc_csv"]["title"]["text"] == "ROC curve per emotion, one-vs-rest (test set)"
    for spec in curves.values():
        assert spec["encoding"]["color"]["field"] == "emotion"
        assert {point["emotion"] for point in spec["data"]["values"]} == EMOTIONS
    assert len(curves["plots_roc_csv"]["data"]["values"]) == len(read_csv(repo.root / "plots/roc.csv"))
    titles = [spec["title"]["text"] for spec in specs.values()]
    assert len(set(titles)) == len(titles), titles


def test_second_repro_runs_nothing_after_ingest(repo):
    """Ingest always runs (it checks the corpus itself); its outputs are unchanged, so nothing else runs."""
    before = repo.snapshot()
    repo.dvc("repro")
    second = repo.changes_since(before)
    assert second.stages == ["ingest"]
    files = json.loads((repo.root / "metrics/ingest.json").read_text())["files"]
    assert (second.decoded, second.unchanged) == (0, files)  # the check cache holds although data/raw is a DVC output


def test_wrong_params_stop_before_any_work(repo):
    cases = [
        ({"data": {"emotions": ["neutral", "joy"]}}, "data.emotions: unknown emotion 'joy'"),
        ({"train": {"alpha": -0.5}}, "train.alpha: got -0.5; allowed: a number in [0, inf]"),
        ({"split": {"test_size": 1.5}}, "split.test_size: got 1.5; allowed: a number in (0, 1)"),
    ]
    original = (repo.root / "params.yaml").read_text()
    features = repo.root / "data/features.parquet"
    before = features.stat().st_mtime_ns
    for changes, message in cases:
        repo.set_params(**changes)
        failed = repo.dvc("repro", check=False)
        assert failed.returncode != 0
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error: params.yaml: ")]
        assert len(errors) == 1 and message in errors[0], failed.stderr
        (repo.root / "params.yaml").write_text(original)
    repo.run("git", "checkout", "--", ".")
    repo.dvc("checkout")
    assert features.stat().st_mtime_ns == before


def flat(metrics: dict, prefix: str = "") -> dict:
    """A metrics file's numbers and strings by dotted key, as DVC names them (lists are not metrics to DVC)."""
    found = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            found.update(flat(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            found[prefix + key] = value
    return found


def read_metrics(repo) -> dict[str, dict]:
    return {path: flat(json.loads((repo.root / path).read_text())) for path in METRICS}


def model_free(path: str, key: str) -> bool:
    """A metric that a change of train.* cannot move: the corpus, the split, the folds, the settings recorded."""
    return path == "metrics/ingest.json" or key in {"test_files", "folds", "by", "model", "normalize"}


def diff_values(diff: dict) -> dict[str, dict]:
    """`dvc metrics diff --json` as path -> key -> (old, new)."""
    return {path: {key: (change["old"], change["new"]) for key, change in keys.items()} for path, keys in diff.items()}


def exp_show(repo) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(repo.dvc("exp", "show", "--csv").stdout)))


def assert_row_shows(row: dict[str, str], metrics: dict[str, dict]) -> None:
    """An `exp show --csv` row holds exactly these metrics' values."""
    shown = {key: row[key] for values in metrics.values() for key in values}
    assert shown == {key: str(value) for values in metrics.values() for key, value in values.items()}


def test_experiment_reruns_only_what_the_change_touches(repo):
    alpha = PARAMS["train"]["alpha"]
    before, before_predictions = read_metrics(repo), read_csv(repo.root / "plots/predictions.csv")
    snapshot = repo.snapshot()
    repo.dvc("exp", "run", "-S", "train.alpha=0.05")
    assert repo.changes_since(snapshot).stages == [
        "ingest",
        "train",
        "evaluate",
        "crossvalidate",
        "train_timeline",
        "timeline",
        "bundle",
    ]
    params_diff = json.loads(repo.dvc("params", "diff", "--json").stdout)["params.yaml"]
    assert {key: (change["old"], change["new"]) for key, change in params_diff.items()} == {
        "train.alpha": (alpha, 0.05)
    }

    # the model changed: the same test files get other probabilities, and evaluate scored those predictions
    after, predictions = read_metrics(repo), read_csv(repo.root / "plots/predictions.csv")
    assert [row["file"] for row in predictions] == [row["file"] for row in before_predictions]
    probabilities = [[v for k, v in row.items() if k.startswith("p_")] for row in (*before_predictions, *predictions)]
    assert probabilities[: len(predictions)] != probabilities[len(predictions) :], "alpha did not change the model"
    hits = [row["actual"] == row["predicted"] for row in predictions]
    assert after["metrics/evaluate.json"]["accuracy"] == pytest.approx(sum(hits) / len(hits))
    epochs = list(csv.DictReader(open(repo.root / "plots/loss.csv")))
    assert len(epochs) > 5 and float(epochs[-1]["loss"]) < float(epochs[0]["loss"])

    # --all: every metric of every file, old from the last commit and new from the experiment, by value
    shown = diff_values(json.loads(repo.dvc("metrics", "diff", "--all", "--json").stdout))
    assert shown == {path: {key: (before[path][key], value) for key, value in after[path].items()} for path in METRICS}
    # without --all: exactly the metrics whose value changed, and none of those a change of alpha cannot move
    changed = {
        path: {key: (before[path][key], value) for key, value in after[path].items() if value != before[path][key]}
        for path in METRICS
    }
    shown = diff_values(json.loads(repo.dvc("metrics", "diff", "--json").stdout))
    assert shown == {path: keys for path, keys in changed.items() if keys}
    assert [(path, key) for path, keys in changed.items() for key in keys if model_free(path, key)] == []

    rows = {row["Experiment"] or row["rev"]: row for row in exp_show(repo)}
    [name] = set(rows) - {"workspace", "main"}  # the one experiment run
    assert (rows["main"]["train.alpha"], rows[name]["train.alpha"], rows["workspace"]["train.alpha"]) == (
        str(alpha),
        "0.05",
        "0.05",
    )
    assert_row_shows(rows["main"], before)
    assert_row_shows(rows[name], after)
    assert_row_shows(rows["workspace"], after)
    repo.run("git", "checkout", "--", ".")
    repo.dvc("checkout")


def test_timeline_scores_the_test_speakers_recordings_and_reruns_alone(repo):
    """The timeline stage's recordings are the test speakers' in turn, its metrics pool theirs; a window param
    re-runs the timeline model's stages, the timeline and the bundle, and a param of the timeline alone (the
    runtime's, the evaluation's channel) re-runs it alone (ingest checks the corpus every time)."""
    split = read_csv(repo.root / "data/split.csv")
    test_speakers = sorted({row["speaker"] for row in split if row["set"] == "test"})
    recordings = PARAMS["timeline"]["eval"]["recordings"]
    metrics = json.loads((repo.root / "metrics/timeline.json").read_text())
    rows = read_csv(repo.root / "plots/timeline.csv")
    assert [row["speaker"] for row in rows] == [test_speakers[i % len(test_speakers)] for i in range(recordings)]
    assert metrics["recordings"] == recordings and metrics["audio_seconds"] == pytest.approx(
        sum(float(row["seconds"]) for row in rows)
    )
    assert metrics["eder"] == pytest.approx(metrics["missed"] + metrics["false_alarm"] + metrics["confusion"])
    assert 0 <= metrics["frame_uar"] <= 1
    assert metrics["eder"] < 1, "the demo's speech must be found and mostly named"
    assert (repo.root / "plots/timeline.png").stat().st_size > 0

    # the runtime's params reach the stage: nearly every segment uncertain leaves the speech missed
    snapshot = repo.snapshot()
    try:
        repo.dvc("exp", "run", "-S", "timeline.uncertain=1.0")
        assert repo.changes_since(snapshot).stages == ["ingest", "timeline"]
        changed = json.loads((repo.root / "metrics/timeline.json").read_text())
        assert changed["uncertain"] > 0.5 > metrics["uncertain"] and changed["eder"] > metrics["eder"]
    finally:
        repo.run("git", "checkout", "--", ".")
        repo.dvc("checkout")

    # so does the channel the recordings pass through: the same recordings over a telephone line score otherwise
    snapshot = repo.snapshot()
    try:
        repo.dvc("exp", "run", "-S", "timeline.eval.channel=phone 3400")
        assert repo.changes_since(snapshot).stages == ["ingest", "timeline"]
        phoned = json.loads((repo.root / "metrics/timeline.json").read_text())
        assert phoned["audio_seconds"] == metrics["audio_seconds"] and phoned != metrics
    finally:
        repo.run("git", "checkout", "--", ".")
        repo.dvc("checkout")

    # the window is the timeline model's too: its rows and the model are made again, and the bundle holds the new one
    window = PARAMS["timeline"]["window"]
    rows = len(pd.read_parquet(repo.root / "data/windows.parquet"))
    snapshot = repo.snapshot()
    try:
        repo.dvc("exp", "run", "-S", f"timeline.window={window / 2}")
        assert repo.changes_since(snapshot).stages == ["ingest", "windows", "train_timeline", "timeline", "bundle"]
        assert len(pd.read_parquet(repo.root / "data/windows.parquet")) > rows
        shipped = json.loads((repo.root / "model/timeline/model.json").read_text())
        assert shipped["windows"]["window"] == window / 2 and shipped["windows"]["rows"] > rows
    finally:
        repo.run("git", "checkout", "--", ".")
        repo.dvc("checkout")


def test_queued_grid_runs_every_value(repo):
    repo.dvc("exp", "run", "--queue", "-S", "train.alpha=0.01,0.2")
    repo.dvc("queue", "start")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # until both experiments have their metrics
        rows = exp_show(repo)
        queued = [row for row in rows if row["Experiment"] and row["train.alpha"] in ("0.01", "0.2")]
        if len(queued) == 2 and all(re.fullmatch(r"[\d.e+-]+", row["uar"]) for row in queued):
            break
        time.sleep(3)
    baseline = next(row for row in rows if row["rev"] == "main")
    assert sorted(row["train.alpha"] for row in queued) == ["0.01", "0.2"]
    settings = [column for column in baseline if column.split(".")[0] in PARAMS and column != "train.alpha"]
    for row in queued:
        assert {column: row[column] for column in settings} == {column: baseline[column] for column in settings}
        repo.dvc("exp", "apply", row["Experiment"])
        assert yaml.safe_load((repo.root / "params.yaml").read_text())["train"]["alpha"] == float(row["train.alpha"])
        trained = json.loads((repo.root / "data/model/model.json").read_text())["train"]["alpha"]
        assert trained == float(row["train.alpha"]), "the experiment's model was not trained with its alpha"
        metrics = read_metrics(repo)
        assert_row_shows(row, metrics)
        assert_row_shows(
            baseline,
            {path: {k: v for k, v in values.items() if model_free(path, k)} for path, values in metrics.items()},
        )
    repo.run("git", "checkout", "--", ".")
    repo.dvc("checkout")
