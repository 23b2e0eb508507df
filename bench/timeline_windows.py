"""Train the model on what the timeline feeds it, and score its timelines on the test speakers.

    python bench/timeline_windows.py --run DIR [--rows windows|trimmed|both] [--set K=V ...] [--json FILE]

DIR is a project folder after a speaker-split ``dvc repro`` (``data/catalog.csv``, ``data/split.csv``,
``data/model``). Every clip's speech is found and encoded as the timeline does it (:mod:`ser.timeline.speech`,
one encoding per stretch of speech) and gives training rows pooled from that encoding: ``windows`` (the
timeline's windows, ``timeline.window`` every ``timeline.hop``), ``trimmed`` (one row for the clip's whole
speech) or ``both``. Each training speaker's rows are standardised together, a model is fitted with
``params.yaml``'s ``train`` section and saved as a bundle like DIR's (same features, its own reference
statistics), and its timelines of the test speakers' recordings are scored for each ``--set`` setting
(as in bench/timeline_accuracy.py), beside DIR's clip-trained model.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from common import PROJECT, add_json_output, report  # bench/common.py
from ser.config import load_params
from ser.corpus.audio import load_audio
from ser.inference.bundle import SpeakerReference, save_bundle
from ser.inference.predictor import Predictor
from ser.modeling.calibration import temperatures_of
from ser.modeling.model import build_model, fit_model
from ser.modeling.normalize import reference_statistics
from ser.timeline.recordings import build_recordings
from ser.timeline.speech import SAMPLE_RATE, speech_regions
from ser.timeline.windows import Window, WindowFeatures, stretches, windows_in
from timeline_accuracy import setting, test_clips  # bench/timeline_accuracy.py
from timeline_select import score  # bench/timeline_select.py


def clip_rows(features: WindowFeatures, samples: np.ndarray, settings, rows: str) -> np.ndarray:
    """The training rows of one clip (none if no speech is found in it)."""
    found = []
    for start, end in stretches(speech_regions(samples, settings.vad)):
        piece = samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
        windows = windows_in(start, end, settings.window, settings.hop) if rows != "trimmed" else []
        if rows != "windows":
            windows.append(Window(start, end))
        found.append(features(piece, start, windows))
    return np.vstack(found) if found else np.zeros((0, len(features.predictor.order)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--rows", choices=("windows", "trimmed", "both"), default="windows")
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--set", action="append", default=[], dest="settings")
    add_json_output(parser, "timeline_windows")
    args = parser.parse_args()
    params = load_params(PROJECT / "params.yaml")
    clip_model = Predictor(args.run / "data/model")
    features = WindowFeatures(clip_model)
    train = test_clips(args.run, "train")
    blocks, labels, speakers = [], [], []
    for clip in train:
        rows = clip_rows(features, load_audio(clip.path, SAMPLE_RATE), params.timeline, args.rows)
        blocks.append(rows)
        labels += [clip.emotion] * len(rows)
        speakers += [clip.speaker] * len(rows)
    X, y, who = np.vstack(blocks), np.array(labels), np.array(speakers)
    print(f"{len(X)} rows ({args.rows}) from {len(train)} training clips", flush=True)
    record = clip_model.record
    columns = list(record.feature_columns)
    model = fit_model(build_model(params.train, columns), X, y, who, params.train.normalize)
    mean, std = reference_statistics(X, who)
    reference = SpeakerReference(mean.tolist(), std.tolist())
    record = dataclasses.replace(
        record, speaker_reference=reference, calibration=temperatures_of(model), model_sha256=None
    )
    evaluation = dataclasses.replace(params.timeline.eval, recordings=args.recordings)
    recordings = list(build_recordings(test_clips(args.run), evaluation, SAMPLE_RATE))
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        save_bundle(Path(folder) / "model", model, record)
        window_model = Predictor(Path(folder) / "model")
        for name, predictor in (("clips", clip_model), (args.rows, window_model)):
            for text in args.settings or [""]:
                scores = score(predictor, recordings, setting(params.timeline, text), evaluation.collar)
                results[f"{name}: {text or 'params.yaml'}"] = scores
                print(
                    f"trained on {name}", text or "params.yaml", {k: round(v, 3) for k, v in scores.items()}, flush=True
                )
    report({"rows": int(len(X)), "results": results}, args.json)


if __name__ == "__main__":
    main()
