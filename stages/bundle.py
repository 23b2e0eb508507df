"""Stage bundle: the complete model bundle `ser predict` uses: model, metrics and model card.

train's data/model cannot hold the metrics (evaluate depends on it, so evaluate
must not rewrite it); this last stage copies the trained model file byte for byte
and adds the test-set and cross-validation metrics to model.json, and the card.
"""
import json
from pathlib import Path

from ser.inference.bundle import copy_bundle, load_bundle
from ser.inference.card import model_card
from ser.stagekit import run_stage, stage_parser

TEST_KEYS = ("accuracy", "uar", "uar_one_clip", "f1_macro", "ece", "ece_one_clip", "log_loss", "roc_auc_macro",
             "average_precision_macro", "test_files", "test_speakers", "per_class", "class_counts")
CROSSVAL_KEYS = ("folds", "by", "accuracy_mean", "accuracy_std", "uar_mean", "uar_std", "uar_one_clip_mean",
                 "uar_one_clip_std", "f1_macro_mean", "f1_macro_std", "uar_per_fold")


def main(args, params):
    model, info = load_bundle(args.model)  # refuses a damaged or untrusted model before it is shipped
    evaluation = json.loads(Path(args.metrics).read_text())
    crossval = json.loads(Path(args.crossval).read_text())
    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    info["estimator"] = " -> ".join(type(step).__name__ for step in steps)
    info["metrics"] = {
        "test": {key: evaluation[key] for key in TEST_KEYS if key in evaluation},
        "crossval": {key: crossval[key] for key in CROSSVAL_KEYS if key in crossval},
    }
    info.pop("model_sha256", None)
    copy_bundle(args.model, args.out, info, model_card(info))
    print(f"bundle: {args.out} ({info['estimator']}, test UAR {evaluation['uar']:.3f}, "
          f"{len(info['classes'])} classes)")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--model", default="data/model", help="the trained bundle from the train stage")
    parser.add_argument("--metrics", default="metrics/evaluate.json")
    parser.add_argument("--crossval", default="metrics/crossval.json")
    parser.add_argument("--out", default="model")
    run_stage(main, parser)
