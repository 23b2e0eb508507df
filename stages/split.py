"""Stage split: assign every file to train or test, by speaker unless asked otherwise."""

import pandas as pd

from ser.corpus.catalog import read_catalog
from ser.files import write_csv
from ser.modeling.split import assign_split
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    table = pd.DataFrame(read_catalog(args.catalog, ("file", "speaker", "emotion")))
    table["set"] = assign_split(table, params.split)
    write_csv(args.out, table)
    counts = table["set"].value_counts()
    test_speakers = sorted(table.loc[table["set"] == "test", "speaker"].unique())
    print(
        f"split ({params.split.by}): {counts.get('train', 0)} train, {counts.get('test', 0)} test; "
        f"test speakers {test_speakers}"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--catalog", default="data/catalog.csv")
    parser.add_argument("--out", default="data/split.csv")
    run_stage(main, parser)
