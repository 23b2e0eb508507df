"""Stage crossvalidate: k folds over all selected files, by speaker unless asked otherwise."""
import pandas as pd

from ser.crossval import cross_validate_model
from ser.table import feature_columns
from ser.files import write_json
from ser.model import build_model
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    table = pd.read_parquet(args.features)
    columns = feature_columns(table)
    result = cross_validate_model(
        build_model(params.train, columns), table[columns].to_numpy(), table["emotion"].to_numpy(), table["speaker"].to_numpy(),
        params.evaluate, seed=params.split.seed, normalization=params.train.normalize,
    )
    result["by"] = params.evaluate.cv_by
    result["model"] = params.train.model
    result["normalize"] = params.train.normalize
    write_json(args.metrics, result)
    print(f"crossvalidate ({params.evaluate.cv_by}, {result['folds']} folds): "
          f"UAR {result['uar_mean']:.3f} +- {result['uar_std']:.3f}, accuracy {result['accuracy_mean']:.3f}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--features", default="data/features.parquet")
    parser.add_argument("--metrics", default="metrics/crossval.json")
    run_stage(main, parser)
