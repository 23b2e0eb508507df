"""Stage train: fit the model on the training files; save the bundle and the loss curve."""

import pandas as pd

from ser.features.table import feature_columns, read_copies, read_split_table
from ser.files import write_csv
from ser.inference.bundle import ModelRecord, save_bundle
from ser.modeling.model import loss_curve, train_model
from ser.reports.figures import loss_figure, save_figure
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    table = read_split_table(args.features, args.split)
    train = table[table["set"] == "train"].reset_index(drop=True)
    columns = feature_columns(table)
    features, speakers = train[columns].to_numpy(), train["speaker"].to_numpy()
    copies = read_copies(args.copies, train, columns) if params.features.augment.copies else None

    model = train_model(
        params.train, columns, features, train["emotion"].to_numpy(), speakers, progress=not args.quiet, copies=copies
    )
    save_bundle(args.model, model, ModelRecord.from_training(model, params, train, columns, corpus_files=len(table)))
    losses = loss_curve(model)
    write_csv(args.loss, pd.DataFrame({"epoch": range(1, len(losses) + 1), "loss": losses}))
    save_figure(loss_figure(losses), args.loss_png)
    epochs = f", {len(losses)} epochs" if losses else ""
    copied = f" and {len(copies[0])} copies" if copies else ""
    print(f"train: {params.train.model} on {len(train)} files{copied}, {len(columns)} features{epochs} -> {args.model}")


if __name__ == "__main__":
    parser = stage_parser(__doc__, progress=True)
    parser.add_argument("--features", default="data/features.parquet")
    parser.add_argument("--split", default="data/split.csv")
    parser.add_argument("--copies", default="data/copies.parquet", help="features of the perturbed copies")
    parser.add_argument("--model", default="data/model")
    parser.add_argument("--loss", default="plots/loss.csv")
    parser.add_argument("--loss-png", default="plots/loss.png")
    run_stage(main, parser)
