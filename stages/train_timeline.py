"""Stage train_timeline: fit the timeline's model on the windows table (the train section's settings, each
training speaker's rows normalised together, calibrated on folds by speaker) and save it as a bundle."""

import pandas as pd

from ser.features.table import feature_columns
from ser.inference.bundle import ModelRecord, WindowTraining, save_bundle
from ser.modeling.model import train_model
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    table = pd.read_parquet(args.windows)
    columns = feature_columns(table)
    features, speakers = table[columns].to_numpy(), table["speaker"].to_numpy()
    model = train_model(params.train, columns, features, table["emotion"].to_numpy(), speakers)
    settings = params.timeline
    windows = WindowTraining(settings.window, settings.hop, settings.vad, len(table))
    save_bundle(args.model, model, ModelRecord.from_training(model, params, table, columns, windows=windows))
    print(
        f"train_timeline: {params.train.model} on {len(table)} windows of {table['file'].nunique()} clips "
        f"({settings.window:g} s every {settings.hop:g} s, and each clip's speech whole) -> {args.model}"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--windows", default="data/windows.parquet")
    parser.add_argument("--model", default="data/timeline_model")
    run_stage(main, parser)
