"""Stage timeline: long recordings built from the test split's speakers (ser.timeline.recordings), the model's
emotion timeline of each, scored as emotion diarization (ser.timeline.scoring): metrics/timeline.json, the scores of
each recording in a table, and the first recording's truth and timeline as a figure."""

import time

from ser.files import write_json, write_rows
from ser.inference.predictor import Predictor
from ser.reports.figures import save_figure, timeline_figure
from ser.stagekit import origin, run_stage, stage_parser
from ser.timeline.recordings import build_recordings, split_clips
from ser.timeline.runtime import timeline_of_samples
from ser.timeline.scoring import FrameCounts, frame_counts


def main(args, params):
    predictor = Predictor(args.model)
    settings = params.timeline
    total, rows, audio_seconds, busy_seconds, shown = FrameCounts(), [], 0.0, 0.0, None
    for recording in build_recordings(
        split_clips(args.catalog, args.split, origin=origin()), settings.eval, predictor.sample_rate
    ):
        start = time.perf_counter()
        segments = timeline_of_samples(predictor, recording.samples, recording.sample_rate, settings)
        busy_seconds += time.perf_counter() - start
        audio_seconds += recording.duration
        counts = frame_counts(recording.truth, segments, recording.duration, settings.eval.collar)
        total += counts
        rows.append(
            {
                "recording": recording.name,
                "speaker": recording.speaker,
                "seconds": recording.duration,
                **counts.scores(),
            }
        )
        shown = shown or (recording, segments, counts.scores())
    scores = total.scores()
    metrics = {key: scores[key] for key in ("eder", "frame_uar", "missed", "uncertain", "false_alarm", "confusion")}
    metrics |= {"recordings": len(rows), "audio_seconds": audio_seconds}  # no timing: same inputs, same bytes
    write_json(args.metrics, metrics)
    write_rows(args.scores, list(rows[0]), rows)
    recording, segments, first = shown
    title = f"Recording {recording.name} (speaker {recording.speaker}): EDER {first['eder']:.2f}"
    save_figure(timeline_figure(recording.truth, segments, recording.duration, predictor.classes, title), args.plot)
    print(
        f"timeline: EDER {metrics['eder']:.3f} (missed {metrics['missed']:.3f} of which uncertain "
        f"{metrics['uncertain']:.3f}, false alarm "
        f"{metrics['false_alarm']:.3f}, confusion {metrics['confusion']:.3f}), frame UAR {metrics['frame_uar']:.3f} "
        f"on {len(rows)} recordings ({audio_seconds:.0f} s), {audio_seconds / busy_seconds:.1f}x real time"
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--catalog", default="data/catalog.csv")
    parser.add_argument("--split", default="data/split.csv")
    parser.add_argument("--model", default="data/timeline_model", help="the timeline model (train_timeline)")
    parser.add_argument("--metrics", default="metrics/timeline.json")
    parser.add_argument("--scores", default="plots/timeline.csv", help="one row per recording: its scores")
    parser.add_argument("--plot", default="plots/timeline.png", help="the first recording's truth and timeline")
    run_stage(main, parser)
