"""Stage evaluate: test-set metrics (headline numbers; per class and per speaker in plots/), the per-file
predictions, the class counts, the ROC and precision-recall curves (one table each, a line per emotion) and their
figures, and the exploratory figures of one test-set file (the first by name)."""

from functools import partial
from pathlib import Path

from ser.cores import usable_cores
from ser.corpus.catalog import locate
from ser.features.table import read_split_table
from ser.files import write_csv
from ser.forked import ForkedCalls
from ser.inference.bundle import load_bundle, read_record
from ser.modeling.calibration import calibrated_probabilities
from ser.modeling.metrics import curves, evaluate_predictions, per_speaker_scores, predicted_labels
from ser.modeling.normalize import normalize_held_out
from ser.reports.breakdowns import write_evaluation
from ser.reports.error_analysis import class_counts, predictions_table
from ser.reports.explore import write_explore_plots
from ser.reports.figures import class_counts_figure, confusion_figure, curve_figure, save_figure, speaker_uar_figure
from ser.stagekit import origin, run_stage, stage_parser


def main(args, params):
    table = read_split_table(args.features, args.split)
    test = table[table["set"] == "test"]
    # the exploratory figures (librosa's; about half of this stage's time) are drawn in a forked process meanwhile
    explore = partial(explore_plots, test, read_record(args.model), args.explore)
    with ForkedCalls([explore], 1 if usable_cores() > 1 else 0) as drawing:
        model, record = load_bundle(args.model)
        metrics = evaluate(args, model, record, table, test)
        list(drawing.results())
    print(
        f"evaluate: accuracy {metrics['accuracy']:.3f}, UAR {metrics['uar']:.3f} "
        f"(one clip {metrics['uar_one_clip']:.3f}), "
        f"macro F1 {metrics['f1_macro']:.3f}, ECE {metrics['ece']:.3f} "
        f"on {len(test)} test files"
    )


def evaluate(args, model, record, table, test) -> dict:
    """The test set's metrics, tables and figures, written; the metrics returned."""
    classes = list(record.classes)
    unnormalised, method = test[list(record.feature_columns)].to_numpy(), record.normalize
    reference = record.speaker_reference.arrays() if method == "speaker" else None
    together, alone = normalize_held_out(unnormalised, test["speaker"].to_numpy(), method, reference)
    y_true = test["emotion"].to_numpy()
    probabilities = calibrated_probabilities(model, together, "together")
    y_pred = predicted_labels(probabilities, classes)
    one_clip = calibrated_probabilities(model, alone, "alone")
    metrics = evaluate_predictions(y_true, probabilities, classes, one_clip=one_clip)
    per_speaker = per_speaker_scores(y_true, y_pred, test["speaker"])
    plots = Path(args.plots)
    write_evaluation(metrics, per_speaker, args.metrics, plots)

    counts = class_counts(table["emotion"], table["set"])
    write_csv(
        plots / "predictions.csv",
        predictions_table(test["file"], test["speaker"], y_true, y_pred, probabilities, classes),
    )
    write_csv(plots / "class_counts.csv", counts)
    save_figure(class_counts_figure(counts), plots / "class_counts.png")
    save_figure(speaker_uar_figure(per_speaker, "UAR per speaker: test set"), plots / "speaker_uar.png")
    roc, pr = curves(y_true, probabilities, classes)
    write_csv(plots / "roc.csv", roc)
    write_csv(plots / "precision_recall.csv", pr)
    per_class = metrics["per_class"]
    save_figure(confusion_figure(y_true, y_pred, classes), plots / "confusion.png")
    save_figure(
        curve_figure(
            roc,
            "fpr",
            "tpr",
            "ROC curve per emotion, one-vs-rest (test set)",
            {c: per_class[c]["roc_auc"] for c in classes},
            "AUC",
        ),
        plots / "roc.png",
    )
    save_figure(
        curve_figure(
            pr,
            "recall",
            "precision",
            "Precision-recall curve per emotion, one-vs-rest (test set)",
            {c: per_class[c]["average_precision"] for c in classes},
            "AP",
        ),
        plots / "precision_recall.png",
    )
    return metrics


def explore_plots(test, record, out: str) -> None:
    """The exploratory figures of the first test file by name."""
    example = test.sort_values("file").iloc[0]
    features = record.features
    write_explore_plots(
        locate(example["path"], origin()),
        out,
        sample_rate=record.audio.sample_rate,
        n_fft=features.n_fft,
        hop_length=features.hop_length,
        n_mels=features.n_mels,
        n_mfcc=features.n_mfcc,
        name=f"{example['file']} ({example['emotion']})",
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--features", default="data/features.parquet")
    parser.add_argument("--split", default="data/split.csv")
    parser.add_argument("--model", default="data/model")
    parser.add_argument("--metrics", default="metrics/evaluate.json")
    parser.add_argument("--plots", default="plots")
    parser.add_argument("--explore", default="plots/explore", help="folder for one test file's exploratory figures")
    run_stage(main, parser)
