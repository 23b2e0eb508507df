"""Stage windows: the timeline model's training rows, windows of each training clip's speech pooled from one
encoding of it (ser.timeline.training), cached per clip; the same of the clips' perturbed copies (features.augment)."""

from ser.corpus.catalog import read_catalog
from ser.files import atomic_path
from ser.stagekit import run_stage, stage_parser
from ser.timeline.training import window_table


def main(args, params):
    training = {row["file"] for row in read_catalog(args.split, ("file", "set")) if row["set"] == "train"}
    clips = read_catalog(args.catalog, ("file", "path", "speaker", "emotion", "sha256"))
    clips = [clip for clip in clips if clip["file"] in training]
    table, copies, computed = window_table(
        clips, params.features, params.audio.sample_rate, params.timeline, args.cache, progress=not args.quiet
    )
    with atomic_path(args.out) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(args.copies) as tmp:
        copies.to_parquet(tmp, index=False)
    encoded = len(clips) * (1 + len(params.features.augment.copies))
    copied = f" and {len(copies)} rows of their perturbed copies" if len(copies) else ""
    print(
        f"windows: {len(table)} rows from {table['file'].nunique()} of {len(clips)} training clips{copied} "
        f"({computed} encoded, {encoded - computed} from cache) -> {args.out}"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__, progress=True)
    parser.add_argument("--catalog", default="data/catalog.csv")
    parser.add_argument("--split", default="data/split.csv")
    parser.add_argument("--out", default="data/windows.parquet")
    parser.add_argument("--copies", default="data/window_copies.parquet", help="rows of the perturbed copies")
    parser.add_argument("--cache", default=".cache/windows", help="per-clip window rows, outside DVC's outputs")
    run_stage(main, parser)
