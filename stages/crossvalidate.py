"""Stage crossvalidate: k folds over all selected files, by speaker unless asked otherwise; the mean and standard
deviation of each score (metrics), the scores per fold and per speaker (out-of-fold predictions) as plots tables,
and a figure of the per-speaker UAR."""

import pandas as pd

from ser.features.table import feature_columns, read_copies
from ser.modeling.crossval import cross_validate_model
from ser.modeling.model import build_model
from ser.reports.breakdowns import write_crossval
from ser.reports.figures import save_figure, speaker_uar_figure
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    table = pd.read_parquet(args.features)
    columns = feature_columns(table)
    result = cross_validate_model(
        build_model(params.train, columns),
        table[columns].to_numpy(),
        table["emotion"].to_numpy(),
        table["speaker"].to_numpy(),
        params.evaluate,
        seed=params.split.seed,
        normalization=params.train.normalize,
        progress=not args.quiet,
        copies=read_copies(args.copies, table, columns) if params.features.augment.copies else None,
    )
    result["by"] = params.evaluate.cv_by
    result["model"] = params.train.model
    result["normalize"] = params.train.normalize
    write_crossval(result, args.metrics, args.plots)
    title = f"UAR per speaker: {result['folds']}-fold cross-validation by {params.evaluate.cv_by}"
    save_figure(speaker_uar_figure(result["per_speaker_out_of_fold"], title), args.speaker_plot)
    print(
        f"crossvalidate ({params.evaluate.cv_by}, {result['folds']} folds): "
        f"UAR {result['uar_mean']:.3f} +- {result['uar_std']:.3f} (one clip {result['uar_one_clip_mean']:.3f}), "
        f"accuracy {result['accuracy_mean']:.3f}"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__, progress=True)
    parser.add_argument("--features", default="data/features.parquet")
    parser.add_argument("--copies", default="data/copies.parquet", help="features of the perturbed copies")
    parser.add_argument("--metrics", default="metrics/crossval.json")
    parser.add_argument("--plots", default="plots", help="folder for the per-fold and per-speaker tables")
    parser.add_argument(
        "--speaker-plot",
        default="plots/crossval_speaker_uar.png",
        help="PNG of each speaker's UAR over its out-of-fold predictions",
    )
    run_stage(main, parser)
