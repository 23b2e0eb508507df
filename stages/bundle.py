"""Stage bundle: the complete model bundle `ser predict` uses: model, metrics and model card.

train's data/model cannot hold the metrics (evaluate depends on it, so evaluate
must not rewrite it); this last stage copies the trained model file byte for byte
and adds the test-set and cross-validation metrics to model.json (the headline numbers, with the
per-class scores and the test speakers from the evaluate stage's tables), and the card; the timeline
model of train_timeline goes into its timeline folder as it is.
"""

import json
from dataclasses import replace
from pathlib import Path

from ser.inference.bundle import check_timeline_model, copy_bundle, estimator_of, load_for_prediction
from ser.inference.card import model_card
from ser.reports.breakdowns import CLASS_SCORES, SPEAKER_SCORES, read_scores
from ser.stagekit import run_stage, stage_parser


def main(args, params):
    # refuses a damaged or untrusted model before it is shipped, with every check ser predict makes when it loads one
    record = load_for_prediction(args.model)[1]
    check_timeline_model(record, load_for_prediction(args.timeline)[1], Path(args.timeline))
    evaluation = json.loads(Path(args.metrics).read_text())
    crossval = json.loads(Path(args.crossval).read_text())
    plots = Path(args.plots)
    record = replace(
        record,
        estimator=estimator_of(args.model),
        metrics={
            "test": {
                **evaluation,
                "per_class": read_scores(plots / CLASS_SCORES, "emotion"),
                "test_speakers": sorted(read_scores(plots / SPEAKER_SCORES, "speaker")),
            },
            "crossval": crossval,
        },
    )
    copy_bundle(args.model, args.out, record, model_card(record), timeline=args.timeline)
    print(f"bundle: {args.out} ({record.estimator}, test UAR {evaluation['uar']:.3f}, {len(record.classes)} classes)")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--model", default="data/model", help="the trained bundle from the train stage")
    parser.add_argument("--timeline", default="data/timeline_model", help="the timeline model (train_timeline)")
    parser.add_argument("--metrics", default="metrics/evaluate.json")
    parser.add_argument("--crossval", default="metrics/crossval.json")
    parser.add_argument(
        "--plots", default="plots", help=f"folder of the evaluate stage's {CLASS_SCORES} and {SPEAKER_SCORES}"
    )
    parser.add_argument("--out", default="model")
    run_stage(main, parser)
