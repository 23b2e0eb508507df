"""Stage split: assign every file to train or test, by speaker unless asked otherwise."""

from ser.corpus.catalog import read_catalog
from ser.files import write_rows
from ser.modeling.split import assign_split
from ser.stagekit import run_stage, stage_parser

COLUMNS = ("file", "speaker", "emotion", "set")


def main(args, params):
    rows = read_catalog(args.catalog, COLUMNS[:3])
    sets = assign_split([row["speaker"] for row in rows], [row["emotion"] for row in rows], params.split)
    for row, assigned in zip(rows, sets):
        row["set"] = assigned
    write_rows(args.out, COLUMNS, rows)
    test_speakers = sorted({row["speaker"] for row in rows if row["set"] == "test"})
    print(
        f"split ({params.split.by}): {sets.count('train')} train, {sets.count('test')} test; "
        f"test speakers {test_speakers}"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--catalog", default="data/catalog.csv")
    parser.add_argument("--out", default="data/split.csv")
    run_stage(main, parser)
