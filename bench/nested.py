"""Honest speaker-independent accuracy: nested leave-one-speaker-out over the grid's main knobs.

    python bench/nested.py --data ../shared/data/ravdess16k [--out nested.json]

Ingests every emotion of the corpus, extracts one wide feature table (every family
and statistic the candidates use, through the same per-file cache as the features
stage), then runs :func:`ser.modeling.crossval.nested_leave_one_speaker_out` over the
candidates below: feature set x per-speaker normalisation x model. For each
held-out speaker the candidate is chosen by leave-one-speaker-out on the other
speakers only, so the outer UAR is an honest estimate of "run the grid, keep the
best". Also printed: each candidate's plain leave-one-speaker-out UAR over all
speakers (what ``dvc exp run -S evaluate.cv_folds=12`` reports for it), whose best
is optimistic because it is chosen on the folds it reports.

The MLP and the 6373-feature ComParE set are left out of the candidates (about 150
fits per candidate would take hours on two cores); the queued DVC grid in the README
measures them, and neither is the grid's best.
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

from ser.config import FeatureParams, TrainParams  # noqa: E402
from ser.corpus.conventions import CONVENTIONS  # noqa: E402
from ser.corpus.ingest import ingest  # noqa: E402
from ser.features.batch import extract_features  # noqa: E402
from ser.features.families import feature_names  # noqa: E402
from ser.files import user_cache_dir  # noqa: E402
from ser.modeling.crossval import nested_leave_one_speaker_out  # noqa: E402
from ser.modeling.model import build_model  # noqa: E402
from ser.names import FEATURE_STATS  # noqa: E402

OWN = ("mfcc", "mfcc_delta", "contrast", "flatness", "rolloff", "centroid", "rms", "zcr", "f0", "voicing")
HANDCRAFTED = OWN + ("logmel", "loudness", "balance")  # the best handcrafted families (docs/accuracy.md)
FEATURE_SETS = {  # name: (families, stats), as features.families / features.stats
    "notebook": (("mfcc", "chroma", "mel"), ("mean",)),
    "own": (OWN, FEATURE_STATS),
    "own+logmel+loudness+balance": (HANDCRAFTED, FEATURE_STATS),
    "egemaps": (("egemaps",), ("mean",)),
    "own+egemaps": (OWN + ("egemaps",), FEATURE_STATS),
}
MODELS = {  # name: train.* overrides
    "svm C=1": {"model": "svm", "svm": {"C": 1.0}},
    "logreg C=0.01": {"model": "logreg", "logreg": {"C": 0.01}},
    "logreg C=0.1": {"model": "logreg", "logreg": {"C": 0.1}},
}


def candidates(columns: list[str], train: TrainParams, sets=FEATURE_SETS) -> dict:
    """Every feature set x normalisation x model, as (model, column indices, normalisation)."""
    index = {name: i for i, name in enumerate(columns)}
    result = {}
    for set_name, (families, stats) in sets.items():
        wanted = [index[n] for n in feature_names(FeatureParams(families=families, stats=stats))]
        names = [columns[i] for i in wanted]
        for normalization in ("none", "speaker"):
            for model_name, overrides in MODELS.items():
                params = replace(train, normalize=normalization, **overrides)
                model = build_model(params, names)
                result[f"{set_name} / {normalization} / {model_name}"] = (model, wanted, normalization)
    return result


def wide_table(data: str, cache: Path, workers: int) -> pd.DataFrame:
    """Every family any candidate uses, with every statistic, for every selected file."""
    manifest = ingest(data, CONVENTIONS["ravdess"], "all", sample_rate=16000, min_samples=2048).catalog
    rows = manifest.to_dict("records")
    families = tuple(dict.fromkeys(f for families, _ in FEATURE_SETS.values() for f in families))
    params = FeatureParams(families=families, stats=FEATURE_STATS)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "features.parquet"
        extract_features(rows, params, 16000, out, cache, workers=workers)
        return pd.read_parquet(out)


def print_result(result: dict, table: pd.DataFrame, grid: dict) -> None:
    """The candidates' plain LOSO scores, how often each was chosen, and the optimistic and honest figures."""
    print(f"{len(table)} files, {table['speaker'].nunique()} speakers, {len(grid)} candidates")
    print("| candidate | plain LOSO UAR (mean ± std) | chosen in outer folds |")
    print("| --- | --- | --- |")
    chosen = pd.Series([fold["chosen"] for fold in result["folds"]]).value_counts()
    for name, scores in result["candidates"].items():
        print(f"| {name} | {scores['uar_mean']:.3f} ± {scores['uar_std']:.3f} | {chosen.get(name, 0)} |")
    best = max(result["candidates"], key=lambda n: result["candidates"][n]["uar_mean"])
    print(
        f"optimistic (grid-best on the reported folds): {best}: "
        f"{result['candidates'][best]['uar_mean']:.3f} ± {result['candidates'][best]['uar_std']:.3f}"
    )
    print(
        f"honest (nested): {result['uar_mean']:.3f} ± {result['uar_std']:.3f}; per fold: "
        + ", ".join(f"{f['speaker']} {f['uar']:.2f} ({f['chosen']})" for f in result["folds"])
    )
    print(f"{result['seconds']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a RAVDESS folder (e.g. ../shared/data/ravdess16k)")
    parser.add_argument(
        "--cache", default=str(user_cache_dir() / "features"), help="per-file feature cache (the features stage's)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="parallel fits")
    parser.add_argument("--out", help="write the full result as JSON here")
    args = parser.parse_args()

    started = time.monotonic()
    table = wide_table(args.data, Path(args.cache), args.workers)
    columns = [c for c in table.columns if c not in ("file", "path", "speaker", "emotion", "sha256")]
    grid = candidates(columns, TrainParams())
    X = table[columns].to_numpy()
    result = nested_leave_one_speaker_out(
        grid, X, table["emotion"].to_numpy(), table["speaker"].to_numpy(), n_jobs=args.jobs
    )
    result["seconds"] = round(time.monotonic() - started, 1)
    result["files"] = len(table)

    print_result(result, table, grid)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
