"""Stage features: one parquet row of named features per manifest file."""
from ser.extract import extract_features
from ser.table import feature_columns
from ser.files import write_parquet
from ser.ingest import read_manifest
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    manifest = read_manifest(args.manifest)
    table = extract_features(manifest, params.features, params.audio.sample_rate, params.features.workers)
    write_parquet(args.out, table)
    print(f"features: {len(table)} files x {len(feature_columns(table))} features -> {args.out}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--manifest", default="data/manifest.csv")
    parser.add_argument("--out", default="data/features.parquet")
    run_stage(main, parser)
