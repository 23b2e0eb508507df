"""Stage evaluate: test-set metrics (overall, per class, per speaker), the per-file predictions, the class
counts, per-class curves and their figures, and the exploratory figures of one test-set file (the first by name)."""
from pathlib import Path

import pandas as pd

from ser.features.table import read_split_table
from ser.files import atomic_dir, write_csv, write_json
from ser.inference.bundle import load_bundle, speaker_reference
from ser.modeling.metrics import (curves, evaluate_predictions, expected_calibration_error, per_speaker_scores,
                                  summary_scores)
from ser.modeling.normalize import normalize, normalize_each_alone
from ser.reports.error_analysis import class_counts, counts_by_set, predictions_table
from ser.reports.explore import write_explore_plots
from ser.reports.figures import class_counts_figure, confusion_figure, curve_figure, save_figure, speaker_uar_figure
from ser.stagekit import run_stage, stage_parser


def write_per_class(directory: Path, points: pd.DataFrame) -> None:
    """One CSV per class, as ``dvc plots`` draws each file as a line."""
    with atomic_dir(directory) as tmp:
        for label, group in points.groupby("class", sort=False):
            group.drop(columns="class").to_csv(tmp / f"{label}.csv", index=False)


def main(args, params):
    model, info = load_bundle(args.model)
    table = read_split_table(args.features, args.split)
    test = table[table["set"] == "test"]
    classes = info["classes"]
    unnormalised, method = test[info["feature_columns"]].to_numpy(), info.get("normalize", "none")
    X = normalize(unnormalised, test["speaker"].to_numpy(), method)
    y_true = test["emotion"].to_numpy()
    y_pred = model.predict(X)
    probabilities = model.predict_proba(X)
    metrics = evaluate_predictions(y_true, y_pred, probabilities, classes)
    # one clip: each test file alone, as `ser predict one.wav` normalises a lone recording
    reference = speaker_reference(info) if method == "speaker" else None
    alone = model.predict_proba(normalize_each_alone(unnormalised, method, reference))
    metrics["uar_one_clip"] = summary_scores(y_true, model.classes_[alone.argmax(axis=1)])["uar"]
    metrics["ece_one_clip"] = expected_calibration_error(y_true, alone, classes)
    counts = class_counts(table["emotion"], table["set"])
    metrics["class_counts"] = counts_by_set(counts)
    metrics["test_speakers"] = sorted(test["speaker"].astype(str).unique())
    metrics["per_speaker"] = per_speaker_scores(y_true, y_pred, test["speaker"])
    write_json(args.metrics, metrics)

    plots = Path(args.plots)
    write_csv(plots / "predictions.csv",
              predictions_table(test["file"], test["speaker"], y_true, y_pred, probabilities, classes))
    write_csv(plots / "class_counts.csv", counts)
    save_figure(class_counts_figure(counts), plots / "class_counts.png")
    save_figure(speaker_uar_figure(metrics["per_speaker"], "UAR per speaker: test set"), plots / "speaker_uar.png")
    roc, pr = curves(y_true, probabilities, classes)
    write_per_class(plots / "roc", roc)
    write_per_class(plots / "precision_recall", pr)
    per_class = metrics["per_class"]
    save_figure(confusion_figure(y_true, y_pred, classes), plots / "confusion.png")
    save_figure(curve_figure(roc, "fpr", "tpr", "ROC, one-vs-rest (test set)",
                             {c: per_class[c]["roc_auc"] for c in classes}, "AUC"), plots / "roc.png")
    save_figure(curve_figure(pr, "recall", "precision", "Precision-recall, one-vs-rest (test set)",
                             {c: per_class[c]["average_precision"] for c in classes}, "AP"), plots / "precision_recall.png")
    example = test.sort_values("file").iloc[0]
    features = info["features"]
    write_explore_plots(example["path"], args.explore, sample_rate=info["audio"]["sample_rate"],
                        n_fft=features["n_fft"], hop_length=features["hop_length"], n_mels=features["n_mels"],
                        n_mfcc=features["n_mfcc"], name=f"{example['file']} ({example['emotion']})")
    print(f"evaluate: accuracy {metrics['accuracy']:.3f}, UAR {metrics['uar']:.3f} (one clip {metrics['uar_one_clip']:.3f}), "
          f"macro F1 {metrics['f1_macro']:.3f}, ECE {metrics['ece']:.3f} "
          f"on {len(test)} test files")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--features", default="data/features.parquet")
    parser.add_argument("--split", default="data/split.csv")
    parser.add_argument("--model", default="data/model")
    parser.add_argument("--metrics", default="metrics/evaluate.json")
    parser.add_argument("--plots", default="plots")
    parser.add_argument("--explore", default="plots/explore", help="folder for one test file's exploratory figures")
    run_stage(main, parser)
