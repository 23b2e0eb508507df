"""The real pipeline under real DVC, in a temporary git repository, on the demo corpus."""
import csv
import io
import json
import re
import sys
import time
import warnings
from collections import Counter

import pytest
from sklearn.metrics import balanced_accuracy_score

from tests.dvcrepo import DvcRepo, stages_run

pytestmark = pytest.mark.slow
ALL_STAGES = ["ingest", "features", "split", "train", "evaluate", "crossvalidate", "bundle", "plots_template"]
EXPLORE_FIGURES = ["harmonic_percussive", "mel_spectrogram", "mfcc", "onset_autocorrelation", "waveform"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = DvcRepo(tmp_path_factory.mktemp("pipeline"))
    first = repo.dvc("repro")
    assert stages_run(first.stdout) == ALL_STAGES
    repo.commit("baseline run")
    return repo


def test_repro_writes_metrics_and_plots(repo):
    evaluate = json.loads((repo.root / "metrics/evaluate.json").read_text())
    assert set(evaluate["per_class"]) == {"neutral", "calm", "happy", "disgust"}
    assert evaluate["uar"] > 0.4, "the demo corpus must be learnable well above chance (0.25)"
    crossval = json.loads((repo.root / "metrics/crossval.json").read_text())
    assert crossval["folds"] == 5 and len(crossval["uar_per_fold"]) == 5
    for name in ("confusion.png", "roc.png", "precision_recall.png", "loss.png", "predictions.csv", "loss.csv",
                 "class_counts.csv", "class_counts.png", "speaker_uar.png", "crossval_speaker_uar.png"):
        assert (repo.root / "plots" / name).stat().st_size > 0
    shown = repo.dvc("metrics", "show").stdout
    assert "metrics/evaluate.json" in shown and "uar" in shown
    explore = sorted(p.stem for p in (repo.root / "plots/explore").iterdir())
    assert explore == EXPLORE_FIGURES


def test_bundle_carries_the_metrics_and_a_card(repo):
    bundle = repo.root / "model"
    assert sorted(p.name for p in bundle.iterdir()) == ["MODEL_CARD.md", "model.json", "model.skops"]
    assert (bundle / "model.skops").read_bytes() == (repo.root / "data/model/model.skops").read_bytes()
    info = json.loads((bundle / "model.json").read_text())
    evaluate = json.loads((repo.root / "metrics/evaluate.json").read_text())
    crossval = json.loads((repo.root / "metrics/crossval.json").read_text())
    assert info["metrics"]["test"]["uar"] == evaluate["uar"]
    assert info["metrics"]["test"]["per_class"] == evaluate["per_class"]
    assert info["metrics"]["crossval"]["uar_mean"] == crossval["uar_mean"]
    assert info["classes"] == sorted(evaluate["per_class"])
    card = (bundle / "MODEL_CARD.md").read_text()
    assert f"| UAR (balanced accuracy) | {evaluate['uar']:.3f} |" in card
    assert "**Speaker-independent**" in card and "synthetic" in card
    assert "standardised per speaker" in card and "statistics over its frames (mean, std" in card


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def predict_test_files(repo) -> dict[str, str]:
    """`ser predict` (default --model) on the test-set files: the emotion predicted for each file name."""
    split = {row["file"]: row["set"] for row in read_csv(repo.root / "data/split.csv")}
    test = {row["path"]: row["file"] for row in read_csv(repo.root / "data/catalog.csv") if split[row["file"]] == "test"}
    run = repo.run(sys.executable, "-m", "ser", "predict", "--format", "csv", *test)
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert [row["path"] for row in rows] == list(test)
    return {test[row["path"]]: row["emotion"] for row in rows}


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
    evaluate = json.loads((repo.root / "metrics/evaluate.json").read_text())
    classes = sorted(evaluate["per_class"])

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

    per_speaker = evaluate["per_speaker"]
    assert sorted(per_speaker) == evaluate["test_speakers"]
    for speaker, score in per_speaker.items():
        mine = [row for row in predictions if row["speaker"] == speaker]
        actual, predicted = [row["actual"] for row in mine], [row["predicted"] for row in mine]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
            assert score["uar"] == pytest.approx(balanced_accuracy_score(actual, predicted))
        assert score["files"] == len(mine)
        assert score["accuracy"] == pytest.approx(sum(a == p for a, p in zip(actual, predicted)) / len(mine))

    crossval = json.loads((repo.root / "metrics/crossval.json").read_text())
    held_out = [speaker for fold in crossval["test_speakers_per_fold"] for speaker in fold]
    assert len(crossval["test_speakers_per_fold"]) == crossval["folds"]
    assert sorted(held_out) == sorted({row["speaker"] for row in manifest}) == sorted(crossval["per_speaker_out_of_fold"])

    shown = repo.dvc("metrics", "show").stdout
    assert f"per_speaker.{evaluate['test_speakers'][0]}.uar" in shown


def test_ser_report_reads_the_predictions(repo):
    evaluate = json.loads((repo.root / "metrics/evaluate.json").read_text())
    text = repo.run(sys.executable, "-m", "ser", "report").stdout
    assert text.startswith(f"{evaluate['test_files']} files, {len(evaluate['test_speakers'])} speakers: "
                           f"accuracy {evaluate['accuracy']:.3f}, UAR {evaluate['uar']:.3f}")
    for speaker, score in evaluate["per_speaker"].items():
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
        (row["emotion"], row["set"], row["count"]) for row in expected)
    confusion = specs["plots_predictions_csv"]["data"]["values"]
    predictions = read_csv(repo.root / "plots/predictions.csv")
    assert sorted((p["actual"], p["predicted"]) for p in confusion) == sorted(
        (row["actual"], row["predicted"]) for row in predictions)
    for figure in ("class_counts.png", "speaker_uar.png", "crossval_speaker_uar.png"):
        assert (tmp_path / "static" / f"workspace_plots_{figure}").stat().st_size > 0


def test_second_repro_runs_nothing_after_ingest(repo):
    """Ingest always runs (it checks the corpus itself); its outputs are unchanged, so nothing else runs."""
    second = repo.dvc("repro")
    assert stages_run(second.stdout) == ["ingest"]
    assert "0 decoded" in second.stdout  # the check cache holds although data/raw is a DVC output
    assert all(f"Stage '{stage}' didn't change, skipping" in second.stdout for stage in ALL_STAGES[1:])


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


def test_experiment_reruns_only_what_the_change_touches(repo):
    run = repo.dvc("exp", "run", "-S", "train.alpha=0.05")
    assert stages_run(run.stdout) == ["ingest", "train", "evaluate", "crossvalidate", "bundle"]
    params_diff = repo.dvc("params", "diff").stdout
    assert "train.alpha" in params_diff and "0.05" in params_diff
    metrics_diff = repo.dvc("metrics", "diff", "--all").stdout
    assert "metrics/evaluate.json" in metrics_diff and "uar" in metrics_diff
    assert "metrics/crossval.json" in metrics_diff
    assert "train.alpha" in repo.dvc("params", "diff").stdout  # the default model is the MLP that alpha tunes
    epochs = list(csv.DictReader(open(repo.root / "plots/loss.csv")))
    assert len(epochs) > 5 and float(epochs[-1]["loss"]) < float(epochs[0]["loss"])
    shown = repo.dvc("exp", "show", "--csv").stdout
    assert "0.05" in shown
    repo.run("git", "checkout", "--", ".")
    repo.dvc("checkout")


def test_queued_grid_runs_every_value(repo):
    repo.dvc("exp", "run", "--queue", "-S", "train.alpha=0.01,0.2")
    repo.dvc("queue", "start")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = repo.dvc("queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert status.count("Success") == 2, status
    shown = repo.dvc("exp", "show", "--csv").stdout
    assert "0.01" in shown and "0.2" in shown
