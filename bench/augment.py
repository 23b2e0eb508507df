"""More speakers from the ones there are: perturbed copies, richer pooling and the between-speaker projection,
each against no change, by step 3 of the nested selection on its recorded choices.

    python bench/augment.py --data ../shared/data/ravdess16k --work DIR \
        --choices docs/results/selection.json [--jobs 2] [--json docs/results/augment.json]

1. Features, once: every RAVDESS file under ``--data`` and each copy of :data:`COPIES`
   (:mod:`ser.features.augment`, seed 0) through the whisper family with every layer and the statistics of
   :data:`POOLING`, into ``DIR/<copy>.parquet`` (a table already there is read back: only the missing ones are
   made); the seconds per file of each (perturbation and features, one worker, in the run that made it) are
   reported.
2. For each candidate of :data:`CANDIDATES` and each held-out actor, the feature set and MLP that
   ``bench/select_defaults.py`` chose for that actor without it (``--choices``) are fitted on the other actors,
   without calibration (a temperature changes no label), and scored on the held-out actor: its recordings
   together (``uar``) and each alone (``uar_one_clip``), as in step 3. A copy's rows are trained on only where
   their source actor is, each copy of an actor its own pseudo-speaker for per-speaker normalisation; a lone clip
   is shrunk toward the average of the original training actors. The projection candidates take the fits of
   ``none`` and project each lone clip's normalised row off the top principal directions of the training actors'
   mean rows (normalised against that average), ``k`` of them.
3. On the telephone: every candidate but the projections is also scored on the held-out actor's copies of
   :data:`PHONE` (``uar_phone``, ``uar_phone_one_clip``), normalised as the held-out actor is: a call of an
   unseen speaker, through a line none of the training recordings came through unless the candidate trains on it.

A candidate's score is the mean of ``uar`` and ``uar_one_clip`` over the 12 outer folds, as in the selection;
its difference from ``none``'s is paired by fold: the mean of the 12 folds' differences and its standard error
(their standard deviation, ddof 1, over the square root of 12), for the score and for one clip.
Also reported: the expected calibration error of the pooled outer probabilities without calibration. The last
line is JSON (with ``--json``, also written there, rewritten after each candidate).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from operator import itemgetter
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from common import report  # bench/common.py
from select_defaults import FEATURE_SETS, MLPS, set_columns  # bench/select_defaults.py
from ser.config import FeatureParams, WhisperParams
from ser.corpus.audio import load_audio
from ser.corpus.conventions import parse_ravdess
from ser.features.augment import Perturbation, perturb, pseudo_speaker
from ser.features.extractor import FeatureExtractor
from ser.features.table import feature_columns
from ser.modeling.metrics import expected_calibration_error, held_out_scores
from ser.modeling.model import build_model, fit_model
from ser.modeling.normalize import normalize_held_out, reference_statistics

COPIES = (
    "speed 0.9",
    "speed 1.1",
    "vtlp 0.9",
    "vtlp 1.1",
    "noise 15",
    "reverb 0.5",
    "pitch -2",
    "pitch 2",
    "phone 3400",
)
PHONE = "phone 3400"  # the copy the held-out actor's calls are scored on
POOLING = ("mean", "std", "p10", "p90")  # statistics over each layer's frames in the tables
CANDIDATES = {  # name: (copies trained on beside the originals, statistics used, projection directions)
    "none": ((), ("mean", "std"), None),
    "projection, k 2": ((), ("mean", "std"), 2),
    "projection, k 10 (every direction of 11 actors)": ((), ("mean", "std"), 10),
    "speed 0.9 and 1.1": (("speed 0.9", "speed 1.1"), ("mean", "std"), None),
    "vtlp 0.9 and 1.1": (("vtlp 0.9", "vtlp 1.1"), ("mean", "std"), None),
    "noise 15 dB": (("noise 15",), ("mean", "std"), None),
    "reverb RT60 0.5 s": (("reverb 0.5",), ("mean", "std"), None),
    "noise 15 dB and reverb RT60 0.5 s": (("noise 15", "reverb 0.5"), ("mean", "std"), None),
    "pitch -2 and +2 semitones": (("pitch -2", "pitch 2"), ("mean", "std"), None),
    "phone 3400 Hz": (("phone 3400",), ("mean", "std"), None),
    "pooling mean, std, p10, p90": ((), POOLING, None),
    "projection, k 10, trained on projected rows": ((), ("mean", "std"), 10),
}
PROJECTED_TRAINING = "projection, k 10, trained on projected rows"  # a model of its own for lone clips
PHONE_KEYS = ("probabilities_phone", "probabilities_phone_one_clip")
PARAMS = FeatureParams(families=("whisper",), whisper=WhisperParams(layers="all", stats=POOLING))
SAMPLE_RATE = 16000
_extractor: FeatureExtractor | None = None


def file_features(path: str, speaker: str, copies: list[str | None]) -> list[tuple[np.ndarray, float]]:
    """The features of each of ``copies`` of the file (None: the file itself), each with the seconds it took."""
    global _extractor
    if _extractor is None:
        _extractor = FeatureExtractor(PARAMS, SAMPLE_RATE)
    samples = load_audio(path, SAMPLE_RATE)
    out = []
    for copy in copies:
        started = time.process_time()
        audio = (
            samples
            if copy is None
            else perturb(samples, Perturbation.parse(copy), SAMPLE_RATE, speaker=speaker, file=Path(path).name)
        )
        out.append((_extractor(audio).astype(np.float32), time.process_time() - started))
    return out


def feature_tables(data: Path, work: Path, jobs: int) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Each copy's table (``none``: the files themselves) and the CPU seconds per file of each: the tables missing
    from ``work`` extracted into it, the others (and their seconds, ``work/seconds.json``) read back."""
    names = {"none": None} | {Perturbation.parse(c).name: c for c in COPIES}
    seconds_file = work / "seconds.json"
    seconds = json.loads(seconds_file.read_text()) if seconds_file.exists() else {}
    missing = [name for name in names if not (work / f"{name}.parquet").exists() or name not in seconds]
    paths = sorted(data.rglob("*.wav"))
    labels = [parse_ravdess(p) for p in paths]
    results = (
        Parallel(n_jobs=jobs, batch_size=8)(
            delayed(file_features)(str(p), label["speaker"], [names[name] for name in missing])
            for p, label in zip(paths, labels)
        )
        if missing
        else []
    )
    columns = FeatureExtractor(PARAMS, SAMPLE_RATE).names
    work.mkdir(parents=True, exist_ok=True)
    tables = {name: pd.read_parquet(work / f"{name}.parquet") for name in names if name not in missing}
    for index, name in enumerate(missing):
        keys = pd.DataFrame(
            {
                "file": [p.name for p in paths],
                "speaker": [x["speaker"] for x in labels],
                "emotion": [x["emotion"] for x in labels],
            }
        )
        values = pd.DataFrame(np.vstack([r[index][0] for r in results]), columns=columns)
        tables[name] = pd.concat([keys, values], axis=1)
        tables[name].to_parquet(work / f"{name}.parquet")
        seconds[name] = float(np.mean([r[index][1] for r in results]))
    seconds_file.write_text(json.dumps(seconds))
    return tables, {name: seconds[name] for name in names}


def between_speaker_directions(X, speakers, reference, k: int) -> np.ndarray:
    """The top ``k`` principal directions, shape ``(k, n_features)``, of the speakers' mean rows standardised
    against ``reference``."""
    means = np.array([X[speakers == s].mean(axis=0) for s in np.unique(speakers)])
    centred = (means - reference[0]) / reference[1]
    return np.linalg.svd(centred - centred.mean(axis=0), full_matrices=False)[2][:k]


def outer_fold(tables: dict, candidate: str, held_out: str, feature_set: str, mlp: str) -> dict:
    """One held-out actor's probabilities of ``candidate`` (and of the projections, for ``none``)."""
    copies, stats, _ = CANDIDATES[candidate]
    base = tables["none"]
    names = feature_columns(base)
    wanted = set_columns(names, *FEATURE_SETS[feature_set])
    indices = [i for i in wanted if names[i].split("_")[2] in stats]
    columns = [names[i] for i in indices]
    train = base["speaker"].to_numpy() != held_out
    X, y, speakers = base[columns].to_numpy(np.float64), base["emotion"].to_numpy(), base["speaker"].to_numpy()
    parts = [(X[train], y[train], speakers[train])]
    for copy in map(Perturbation.parse, copies):  # the copies of the training actors' files only
        table = tables[copy.name]
        rows = np.flatnonzero(table["file"].isin(set(base.loc[train, "file"])).to_numpy())
        pseudo = np.array([pseudo_speaker(s, copy) for s in table["speaker"].to_numpy()[rows]])
        parts.append((table[columns].to_numpy(np.float64)[rows], table["emotion"].to_numpy()[rows], pseudo))
    reference = reference_statistics(X[train], speakers[train])
    together, alone = normalize_held_out(X[~train], speakers[~train], "speaker", reference)
    calls = tables[Perturbation.parse(PHONE).name]
    called = calls["speaker"].to_numpy() == held_out
    calls_together, calls_alone = normalize_held_out(
        calls[columns].to_numpy(np.float64)[called], calls["speaker"].to_numpy()[called], "speaker", reference
    )
    normalization = "speaker"
    if candidate == PROJECTED_TRAINING:  # every row standardised against the average actor, projected, alone
        directions = between_speaker_directions(X[train], speakers[train], reference, CANDIDATES[candidate][2])

        def projected(rows):
            standardised = (rows - reference[0]) / reference[1]
            return standardised - (standardised @ directions.T) @ directions

        parts, alone, normalization = [(projected(X[train]), y[train], speakers[train])], projected(X[~train]), "none"
    started = time.monotonic()
    model = fit_model(
        build_model(replace(MLPS[mlp], calibrate=False), columns),
        np.vstack([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        normalization,
    )
    fit_seconds = time.monotonic() - started
    out = {
        "emotions": y[~train],
        "classes": model.classes_,
        "probabilities": model.predict_proba(together),
        "probabilities_one_clip": model.predict_proba(alone),
        "rows": int(sum(len(p[0]) for p in parts)),
        "fit_seconds": fit_seconds,
    }
    if candidate != PROJECTED_TRAINING:  # a call: the held-out actor's telephone copies, normalised as the actor is
        out["emotions_phone"] = calls["emotion"].to_numpy()[called]
        out["probabilities_phone"] = model.predict_proba(calls_together)
        out["probabilities_phone_one_clip"] = model.predict_proba(calls_alone)
    if candidate == "none":
        for other, (_, _, k) in CANDIDATES.items():
            if k is not None and other != PROJECTED_TRAINING:
                directions = between_speaker_directions(X[train], speakers[train], reference, k)
                out[other] = model.predict_proba(alone - (alone @ directions.T) @ directions)
    return out


def summarise(outer: list[dict], key_together: str, key_alone: str, folds: list[dict], calls: bool) -> dict:
    """Per-fold and mean scores (with ``calls``, also on the held-out actor's telephone copies), and the uncalibrated
    calibration errors, of pooled outer probabilities."""
    per_fold = []
    for o, fold in zip(outer, folds):
        together, alone = (o["classes"][o[key].argmax(axis=1)] for key in (key_together, key_alone))
        scores = held_out_scores(o["emotions"], together, alone)
        per_fold.append({"speaker": fold["speaker"], "uar": scores["uar"], "uar_one_clip": scores["uar_one_clip"]})
        if calls:
            together, alone = (o["classes"][o[key].argmax(axis=1)] for key in PHONE_KEYS)
            scores = held_out_scores(o["emotions_phone"], together, alone)
            per_fold[-1] |= {"uar_phone": scores["uar"], "uar_phone_one_clip": scores["uar_one_clip"]}
    truth = np.concatenate([o["emotions"] for o in outer])
    result = {"folds": per_fold}
    for key in ("uar", "uar_one_clip") + (("uar_phone", "uar_phone_one_clip") if calls else ()):
        values = [f[key] for f in per_fold]
        result[key], result[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
    result["score"] = (result["uar"] + result["uar_one_clip"]) / 2
    for name, key in (("ece_uncalibrated", key_together), ("ece_uncalibrated_one_clip", key_alone)):
        result[name] = expected_calibration_error(truth, np.vstack([o[key] for o in outer]), outer[0]["classes"])
    result["rows_trained_on"] = int(np.mean([o["rows"] for o in outer]))
    result["fit_seconds_per_fold"] = float(np.mean([o["fit_seconds"] for o in outer]))
    return result


def paired_differences(candidate: dict, none: dict) -> dict:
    """``candidate``'s score and one-clip UAR minus ``none``'s, paired by held-out actor: the mean of the folds'
    differences and its standard error."""
    out = {}
    for name, score in (
        ("score", lambda f: (f["uar"] + f["uar_one_clip"]) / 2),
        ("uar_one_clip", itemgetter("uar_one_clip")),
    ):
        differences = np.array([score(c) - score(n) for c, n in zip(candidate["folds"], none["folds"], strict=True)])
        out[f"{name}_difference"] = float(differences.mean())
        out[f"{name}_difference_se"] = float(differences.std(ddof=1) / np.sqrt(len(differences)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the RAVDESS folder (searched recursively)")
    parser.add_argument("--work", type=Path, required=True, help="where the feature tables are kept")
    parser.add_argument("--choices", type=Path, required=True, help="a selection.json of bench/select_defaults.py")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folds = json.loads(args.choices.read_text())["folds"]
    started = time.monotonic()
    tables, seconds = feature_tables(args.data, args.work, args.jobs)
    result = {
        "files": len(tables["none"]),
        "copies": list(COPIES),
        "seconds_per_file": seconds,
        "extraction_seconds": round(time.monotonic() - started, 1),
        "candidates": {},
    }
    print(f"features: {result['files']} files, CPU seconds per file: {seconds}")
    if args.json and args.json.exists():
        result["candidates"] = json.loads(args.json.read_text())["candidates"]
    runs = [
        c
        for c in CANDIDATES
        if (CANDIDATES[c][2] is None or c == PROJECTED_TRAINING) and (not args.only or c in args.only)
    ]
    for candidate in runs:
        started = time.monotonic()
        outer = Parallel(n_jobs=args.jobs)(
            delayed(outer_fold)(tables, candidate, f["speaker"], f["feature_set"], f["mlp_setting"]) for f in folds
        )
        seconds = round(time.monotonic() - started, 1)
        joblib.dump(outer, args.work / f"outer {candidate}.joblib")
        named = {candidate: "probabilities_one_clip"}
        if candidate == "none":
            named.update({c: c for c, (_, _, k) in CANDIDATES.items() if k is not None and c != PROJECTED_TRAINING})
        if candidate == PROJECTED_TRAINING:  # a speaker's recordings together: the per-speaker model of none
            for o, none in zip(outer, joblib.load(args.work / "outer none.joblib")):
                o["probabilities"] = none["probabilities"]
        for name, key in named.items():
            calls = key == "probabilities_one_clip" and PHONE_KEYS[0] in outer[0]
            summary = summarise(outer, "probabilities", key, folds, calls)
            summary["seconds"] = seconds
            result["candidates"][name] = summary
            print(
                f"{name}: UAR {summary['uar']:.3f} ± {summary['uar_std']:.3f}, one clip {summary['uar_one_clip']:.3f}"
                f" ± {summary['uar_one_clip_std']:.3f}, score {summary['score']:.3f}; ECE uncalibrated "
                f"{summary['ece_uncalibrated']:.3f}, one clip {summary['ece_uncalibrated_one_clip']:.3f}; "
                + (
                    f"on the phone {summary['uar_phone']:.3f}, one clip {summary['uar_phone_one_clip']:.3f}; "
                    if "uar_phone" in summary
                    else ""
                )
                + f"{summary['rows_trained_on']} rows, {summary['seconds']:.0f} s",
                flush=True,
            )
        if "none" in result["candidates"]:
            for c in result["candidates"].values():
                c.update(paired_differences(c, result["candidates"]["none"]))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    report(
        {k: v for k, v in result.items() if k != "candidates"}
        | {name: round(c["score"], 4) for name, c in result["candidates"].items()},
        None,
    )


if __name__ == "__main__":
    main()
