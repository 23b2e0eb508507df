"""Stage features: one parquet row of named features per catalog file, and per perturbed copy of each (features.augment,
in a table of their own), cached per file."""

import os
from pathlib import Path

# Arrow's default allocator (mimalloc) keeps what the parquet writer frees; the system one gives it
# back, so this process's peak memory hardly grows with the corpus. Set before pyarrow is imported.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from ser.corpus.catalog import read_catalog
from ser.features.batch import extract_features
from ser.features.table import KEY_COLUMNS
from ser.files import user_cache_dir
from ser.stagekit import origin, run_stage, stage_parser


def main(args, params):
    rows = read_catalog(args.catalog, KEY_COLUMNS)
    computed = extract_features(
        rows,
        params.features,
        params.audio.sample_rate,
        args.out,
        args.cache,
        workers=params.features.workers,
        progress=not args.quiet,
        origin=origin(),
        copies_out=args.copies or Path(args.out).with_name("copies.parquet"),
    )
    copies = len(params.features.augment.copies) * len(rows)
    print(
        f"features: {len(rows)} files and {copies} copies ({computed} computed, {len(rows) + copies - computed} "
        f"from cache) -> {args.out}"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__, progress=True)
    parser.add_argument("--catalog", default="data/catalog.csv")
    parser.add_argument("--out", default="data/features.parquet")
    parser.add_argument("--copies", help="features of the perturbed copies (default: copies.parquet beside --out)")
    parser.add_argument(
        "--cache",
        default=user_cache_dir() / "features",
        help="per-file feature cache, shared by every workspace of this user (default: $SER_CACHE/features)",
    )
    run_stage(main, parser)
