"""Does fusing the encoder with the handcrafted families lose to the encoder alone? Nested, with params.yaml's model.

    python bench/fusion.py --data ../shared/data/ravdess16k [--inner-folds 3] [--out fusion.json]

Ingests every emotion of a RAVDESS-named corpus, extracts params.yaml's features (through
the features stage's own per-file cache), and runs
:func:`ser.modeling.crossval.nested_leave_one_speaker_out` over four ways to use them, each with
params.yaml's ``train`` settings (the default MLP): the encoder block alone, the
handcrafted block alone, both concatenated (``train.blocks: columns``) and both weighted
equally (``train.blocks: equal``, the default). Each held-out speaker's choice is made by
cross-validation on the other speakers only (``--inner-folds`` folds of speakers), so the
nested UAR is an honest figure for "pick the best of the four"; the plain
leave-one-speaker-out UAR of each is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from nested import print_result  # noqa: E402
from ser.config import load_params  # noqa: E402
from ser.corpus.conventions import CONVENTIONS  # noqa: E402
from ser.corpus.ingest import ingest  # noqa: E402
from ser.features.batch import extract_features  # noqa: E402
from ser.features.table import feature_columns  # noqa: E402
from ser.files import user_cache_dir  # noqa: E402
from ser.modeling.crossval import nested_leave_one_speaker_out  # noqa: E402
from ser.modeling.model import build_model, feature_blocks  # noqa: E402


def candidates(columns: list[str], params) -> dict:
    """Each block alone and both fused two ways, as (model, column indices, normalisation)."""
    blocks = feature_blocks(columns)
    if len(blocks) != 2:
        raise SystemExit(f"params.yaml's features give blocks {list(blocks)}; this compares exactly two")
    (first, first_columns), (second, second_columns) = blocks.items()
    everything = list(range(len(columns)))
    subsets = {
        f"{first} alone": (first_columns, "equal"),
        f"{second} alone": (second_columns, "equal"),
        "both, every column equal": (everything, "columns"),
        "both, every block equal": (everything, "equal"),
    }
    result = {}
    for name, (indices, weighting) in subsets.items():
        train = replace(params.train, blocks=weighting)
        result[name] = (build_model(train, [columns[i] for i in indices]), indices, train.normalize)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a RAVDESS folder (e.g. ../shared/data/ravdess16k)")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument(
        "--cache", default=str(user_cache_dir() / "features"), help="per-file feature cache (the features stage's)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="parallel fits")
    parser.add_argument(
        "--inner-folds", type=int, default=3, help="folds of speakers that choose each outer fold's candidate"
    )
    parser.add_argument("--out", help="write the full result as JSON here")
    args = parser.parse_args()

    started = time.monotonic()
    params = load_params(args.params)
    manifest = ingest(
        args.data,
        CONVENTIONS["ravdess"],
        "all",
        sample_rate=params.audio.sample_rate,
        min_samples=params.features.min_samples,
    ).catalog
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "features.parquet"
        extract_features(
            manifest.to_dict("records"),
            params.features,
            params.audio.sample_rate,
            out,
            args.cache,
            workers=args.workers,
        )
        table = pd.read_parquet(out)
    columns = feature_columns(table)
    grid = candidates(columns, params)
    result = nested_leave_one_speaker_out(
        grid,
        table[columns].to_numpy(),
        table["emotion"].to_numpy(),
        table["speaker"].to_numpy(),
        inner_folds=args.inner_folds,
        n_jobs=args.jobs,
    )
    result.update(seconds=round(time.monotonic() - started, 1), files=len(table), inner_folds=args.inner_folds)
    print_result(result, table, grid)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
