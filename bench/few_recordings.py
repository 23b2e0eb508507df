"""How accuracy depends on the number of recordings ser predict gets of a speaker.

    python bench/few_recordings.py --run DIR [--seed 1] [--json docs/results/few_recordings.json]

DIR is a project folder after a speaker-split ``dvc repro`` / ``dvc exp run`` with
``train.normalize: speaker`` (it reads ``data/features.parquet``, ``data/split.csv`` and
``data/model``). Each test file is standardised with the statistics of itself and n - 1
other recordings of its speaker drawn at random, then predicted; the UAR over the test
set is printed for each n, for three ways of standardising (and none): the speaker's own statistics,
statistics shrunk toward the training speakers' average (what ``ser predict`` does below
``SHRINK_BELOW`` recordings), and the training average alone. The last line is JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from common import add_json_output, report  # bench/common.py
from ser.features.table import read_split_table
from ser.inference.bundle import load_bundle
from ser.modeling.normalize import normalize_by_speaker, normalize_new_speakers, reference_statistics

COUNTS = (1, 2, 4, 8, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="project folder of a finished speaker-split run")
    parser.add_argument("--seed", type=int, default=1)
    add_json_output(parser, "few_recordings")
    args = parser.parse_args()
    model, record = load_bundle(args.run / "data/model")
    table = read_split_table(args.run / "data/features.parquet", args.run / "data/split.csv")
    columns = list(record.feature_columns)
    train, test = table[table["set"] == "train"], table[table["set"] == "test"]
    reference = reference_statistics(train[columns].to_numpy(), train["speaker"].to_numpy())
    X, y, speakers = test[columns].to_numpy(), test["emotion"].to_numpy(), test["speaker"].to_numpy()

    def uar(standardise, count: int) -> float:
        rng = np.random.default_rng(args.seed)
        predictions = []
        for i in range(len(X)):
            same = np.flatnonzero(speakers == speakers[i])
            others = rng.choice(same[same != i], count - 1, replace=False)
            rows = X[np.r_[i, others]]
            predictions.append(model.predict(standardise(rows)[:1])[0])
        return float(balanced_accuracy_score(y, predictions))

    def own(rows):
        return normalize_by_speaker(rows, np.zeros(len(rows)))

    def shrunk(rows):
        return normalize_new_speakers(rows, np.zeros(len(rows)), reference)

    result = {
        "own": {n: uar(own, n) for n in COUNTS if n > 1},
        "shrunk": {n: uar(shrunk, n) for n in COUNTS},
        "reference_only": uar(lambda rows: (rows - reference[0]) / reference[1], 1),
        "all_own": float(balanced_accuracy_score(y, model.predict(normalize_by_speaker(X, speakers)))),
        "unnormalised": float(balanced_accuracy_score(y, model.predict(X))),
        "test_files": int(len(X)),
    }
    print(f"{'n':>4} {'own':>7} {'shrunk':>7}")
    for n in COUNTS:
        print(f"{n:>4} {result['own'].get(n, float('nan')):7.3f} {result['shrunk'][n]:7.3f}")
    print(
        f"training average alone, n = 1: {result['reference_only']:.3f}; every recording of the speaker: "
        f"{result['all_own']:.3f}; no standardisation: {result['unnormalised']:.3f}"
    )
    report(result, args.json)


if __name__ == "__main__":
    main()
