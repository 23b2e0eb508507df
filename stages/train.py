"""Stage train: fit the model on the training files; save the bundle and the loss curve."""
import hashlib
from dataclasses import asdict
from importlib.metadata import version

import pandas as pd

from ser.features.table import feature_columns, read_split_table
from ser.features.weights import weights_info
from ser.files import write_csv
from ser.inference.bundle import save_bundle
from ser.modeling.model import build_model, fit_model, loss_curve
from ser.modeling.normalize import normalize, reference_statistics
from ser.reports.figures import loss_figure, save_figure
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    table = read_split_table(args.features, args.split)
    train = table[table["set"] == "train"]
    columns = feature_columns(table)
    features, speakers = train[columns].to_numpy(), train["speaker"].to_numpy()
    X = normalize(features, speakers, params.train.normalize)
    model = fit_model(build_model(params.train, columns), X, train["emotion"].to_numpy(), speakers)
    info = {
        "classes": [str(c) for c in model.classes_],
        "feature_columns": columns,
        # applied to the features before the model, by ser.modeling.normalize.normalize: "speaker" standardises
        # each speaker's rows with that speaker's own statistics, computed from that speaker's files
        "normalize": params.train.normalize,
        "audio": asdict(params.audio),
        "features": params.features.definition(),
        "train": asdict(params.train),
        "split": asdict(params.split),
        "data": {"source": params.data.source, "dataset": params.data.dataset,
                 "train_files": int(len(train)), "train_speakers": sorted(train["speaker"].unique()),
                 "train_sha256": hashlib.sha256("".join(sorted(train["sha256"])).encode()).hexdigest()},
        "versions": {name: version(name) for name in ("scikit-learn", "skops", "numpy", "scipy", "soxr", "soundfile", "librosa")},
    }
    if "whisper" in params.features.families:  # ser predict refuses other weights than these
        info["weights"] = {"whisper": weights_info(params.features.whisper.model, params.features.whisper.layers)}
    if params.train.normalize == "speaker":  # lets ser predict standardise a speaker with few recordings
        mean, std = reference_statistics(features, speakers)
        info["speaker_reference"] = {"mean": mean.tolist(), "std": std.tolist()}
    save_bundle(args.model, model, info)
    losses = loss_curve(model)
    write_csv(args.loss, pd.DataFrame({"epoch": range(1, len(losses) + 1), "loss": losses}))
    save_figure(loss_figure(losses), args.loss_png)
    epochs = f", {len(losses)} epochs" if losses else ""
    print(f"train: {params.train.model} on {len(train)} files, {len(columns)} features{epochs} -> {args.model}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--features", default="data/features.parquet")
    parser.add_argument("--split", default="data/split.csv")
    parser.add_argument("--model", default="data/model")
    parser.add_argument("--loss", default="plots/loss.csv")
    parser.add_argument("--loss-png", default="plots/loss.png")
    run_stage(main, parser)
