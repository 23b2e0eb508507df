"""Stage train_timeline: fit the timeline's model on the windows table (the train section's settings, each
training speaker's rows normalised together, calibrated on folds by speaker), beside the rows of their perturbed
copies (features.augment), and save it as a bundle."""

import pandas as pd

from ser.features.table import feature_columns, read_copies
from ser.inference.bundle import ModelRecord, WindowTraining, save_bundle
from ser.modeling.model import train_model
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    table = pd.read_parquet(args.windows)
    columns = feature_columns(table)
    features, speakers = table[columns].to_numpy(), table["speaker"].to_numpy()
    copies = read_copies(args.copies, table, columns) if params.features.augment.copies else None
    model = train_model(params.train, columns, features, table["emotion"].to_numpy(), speakers, copies=copies)
    settings = params.timeline
    windows = WindowTraining(settings.window, settings.hop, settings.vad, len(table))
    save_bundle(args.model, model, ModelRecord.from_training(model, params, table, columns, windows=windows))
    copied = f" and {len(copies[0])} of their copies" if copies else ""
    print(
        f"train_timeline: {params.train.model} on {len(table)} windows of {table['file'].nunique()} clips{copied} "
        f"({settings.window:g} s every {settings.hop:g} s, and each clip's speech whole) -> {args.model}"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--windows", default="data/windows.parquet")
    parser.add_argument("--copies", default="data/window_copies.parquet", help="rows of the perturbed copies")
    parser.add_argument("--model", default="data/timeline_model")
    run_stage(main, parser)
