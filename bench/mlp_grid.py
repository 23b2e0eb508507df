"""Leave-one-speaker-out UAR of model settings on one feature table, each a set of ``train`` overrides.

    python bench/mlp_grid.py --features data/features.parquet \
        '{"hidden_layer_sizes": [64]}' '{"hidden_layer_sizes": [300], "alpha": 10}' '{"model": "logreg"}'

Reads a table the features stage wrote (run the pipeline on a corpus first, e.g. ``dvc exp
run -S data.source=../shared/data/ravdess16k -S data.emotions=all``), and for each JSON
object of overrides to params.yaml's ``train`` section prints the mean, spread and
per-fold UAR of leave-one-speaker-out cross-validation, computed exactly as the
crossvalidate stage computes it with ``evaluate.cv_folds`` equal to the number of
speakers (``--columns`` restricts the features to one block). The docs' MLP rows come from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ser.config import EvaluateParams, TrainParams, load_params  # noqa: E402
from ser.features.table import feature_columns  # noqa: E402
from ser.modeling.crossval import cross_validate_model  # noqa: E402
from ser.modeling.model import build_model, feature_blocks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", required=True, help="a features.parquet the features stage wrote")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--columns", default="all", help="all, or one feature block: whisper, handcrafted, ...")
    parser.add_argument("--jobs", type=int, default=2, help="folds fitted in parallel")
    parser.add_argument("overrides", nargs="+", help="train overrides as JSON, e.g. '{\"alpha\": 1}'")
    args = parser.parse_args()

    table = pd.read_parquet(args.features)
    columns = feature_columns(table)
    if args.columns != "all":
        columns = [columns[i] for i in feature_blocks(columns)[args.columns]]
    speakers = table["speaker"].to_numpy()
    folds = EvaluateParams(cv_folds=len(set(speakers)), cv_by="speaker")
    base = load_params(args.params).train
    for text in args.overrides:
        train = TrainParams(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **json.loads(text)})
        started = time.monotonic()
        result = cross_validate_model(
            build_model(train, columns),
            table[columns].to_numpy(),
            table["emotion"].to_numpy(),
            speakers,
            folds,
            seed=0,
            normalization=train.normalize,
            n_jobs=args.jobs,
        )
        print(
            f"| {args.columns} | {text} | {result['uar_mean']:.3f} ± {result['uar_std']:.3f} | "
            + " ".join(f"{v:.2f}" for v in result["uar_per_fold"])
            + f" | {time.monotonic() - started:.0f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
