"""The model card: what a bundle's model is for, what it was trained and tested on, and its limits.

Written from ``model.json`` (with its metrics) alone, so the card can never
disagree with the bundle it describes.
"""
from __future__ import annotations

from ser.modeling.normalize import SHRINK_BELOW

# What each corpus convention's recordings are, for the card's limits section.
CORPUS_NOTES = {
    "ravdess": "RAVDESS recordings (professional North American actors speaking two fixed English sentences "
               "in each emotion, in a studio)",
    "cremad": "CREMA-D recordings (actors of varied age and ethnicity speaking 12 fixed English sentences)",
    "tess": "TESS recordings (two female Canadian English speakers, aged 26 and 64, saying target words)",
    "savee": "SAVEE recordings (male British English speakers reading phonetically balanced sentences)",
    "emodb": "EmoDB recordings (German actors speaking ten fixed German sentences)",
    "manifest": "a corpus listed in a manifest CSV",
}


MODEL_KEYS = ("svm", "logreg")  # train.* sections that only their model reads


def _score(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _param(value) -> str:
    return ", ".join(map(str, value)).join("[]") if isinstance(value, (list, tuple)) else str(value)


def speaker_overlap(info: dict) -> tuple[list[str], list[str]]:
    """``(test speakers, test speakers also heard in training)`` from the bundle's info and metrics."""
    test = [str(s) for s in info.get("metrics", {}).get("test", {}).get("test_speakers", [])]
    train = {str(s) for s in info.get("data", {}).get("train_speakers", [])}
    return test, sorted(set(test) & train)


def protocol_text(info: dict) -> str:
    """One sentence: whether the test set holds only voices the model never heard."""
    test, shared = speaker_overlap(info)
    by = info.get("split", {}).get("by", "?")
    if not test:
        return f"Split by {by}; the test speakers are not recorded in this bundle."
    if shared:
        return (f"**Not speaker-independent**: {len(shared)} of the {len(test)} test speakers ({', '.join(shared)}) "
                f"also appear in training (split by {by}), so the test numbers overstate accuracy on new voices.")
    return (f"**Speaker-independent**: the {len(test)} test speakers ({', '.join(test)}) never appear in training "
            f"(split by {by}).")


def normalization_text(info: dict) -> str:
    """One sentence on per-speaker normalisation and what it asks of the user."""
    if info.get("normalize") == "speaker":
        return ("Features are standardised per speaker, each speaker with the statistics of their own recordings "
                "(no labels needed). `ser predict` therefore groups recordings by speaker (from the file names, "
                f"or `--speaker`); a speaker with fewer than {SHRINK_BELOW} recordings, or a file whose name gives "
                "no speaker, has statistics shrunk toward the training speakers' average, with a warning, and "
                "scores lower than with a speaker's full set of recordings.")
    return "Features are not normalised per speaker: each recording is judged on its own."


def calibration_text(info: dict) -> str:
    """What the probabilities can be trusted for."""
    test = info.get("metrics", {}).get("test", {})
    measured = (f" On the test speakers their expected calibration error (10 bins of the top probability) is "
                f"{_score(test.get('ece'))}, {_score(test.get('ece_one_clip'))} for one recording at a time."
                if "ece" in test else "")
    if info.get("train", {}).get("calibrate"):
        return ("The probabilities are temperature-scaled, the temperature fitted on speakers held out from the "
                "training folds." + measured + " On other corpora and recording conditions they can still be "
                "overconfident.")
    return "The probabilities are the model's outputs, not calibrated confidences." + measured


def family_descriptions(features: dict) -> list[str]:
    """Each feature family of the bundle with the statistics taken over its frames (the encoder: per layer)."""
    own = [family for family in features.get("families", []) if family != "whisper"]
    parts = []
    if "whisper" in features.get("families", []):
        whisper = features.get("whisper", {})
        layers = whisper.get("layers", "all")
        named = "every layer" if layers == "all" else "layers " + ", ".join(map(str, layers))
        parts.append(f"Whisper's encoder, {named}: {', '.join(whisper.get('stats', []))} of each layer's frames")
    if own:
        parts.append(f"{', '.join(own)}: {', '.join(features.get('stats', []))} over frames of an STFT (n_fft "
                     f"{features.get('n_fft', '?')}, hop {features.get('hop_length', '?')})")
    return parts


def frames_text(features: dict) -> str:
    """What the per-file statistics keep of how the voice changes over time."""
    stats = set(features.get("stats", [])) if any(f != "whisper" for f in features.get("families", [])) else set()
    if "whisper" in features.get("families", []):
        stats |= set(features.get("whisper", {}).get("stats", []))
    if stats == {"mean"}:
        return "Features are averages over the whole file: how the voice changes over time is not used."
    return ("Features summarise each file by statistics over its frames: their spread and trend are kept, but not "
            "the order of events within the recording.")


def weights_lines(info: dict) -> list[str]:
    """One line per pretrained encoder the features come from: its weights' origin, licence and digest, and
    the digest of each layer's model derived from them."""
    lines = []
    for name, weights in info.get("weights", {}).items():
        lines.append(f"- Pretrained encoder `{name}` (`features.{name}.model: {weights['model']}`): {weights['source']}; "
                     f"weights SHA-256 `{weights['sha256']}`.")
        lines += [f"  - layer {layer}: its model, cut down from these weights, SHA-256 `{digest}`."
                  for layer, digest in weights.get("layers", {}).items()]
    return lines


def model_card(info: dict) -> str:
    """The MODEL_CARD.md text for a complete bundle's ``info``."""
    classes = info["classes"]
    data = info.get("data", {})
    train = info.get("train", {})
    features = info.get("features", {})
    test = info.get("metrics", {}).get("test", {})
    crossval = info.get("metrics", {}).get("crossval", {})
    demo = data.get("source") == "demo"
    corpus = "the synthetic demo corpus: generated signals, not speech" if demo else \
        CORPUS_NOTES.get(data.get("dataset"), data.get("dataset", "an unnamed corpus"))
    lines = [
        "# Model card: speech emotion recognition",
        "",
        "Written by the `bundle` stage from `model.json`; regenerate it with `dvc repro`, do not edit it.",
        "",
        "## Intended use",
        "",
        f"Research and teaching: label a short recording of one speaker with one of {len(classes)} emotions "
        f"({', '.join(classes)}), as the emotion is *portrayed*, with `ser predict`. Not for decisions about "
        "people (hiring, health, security, policing): it recognises acted portrayals, not what anyone feels.",
        "",
        "## Data",
        "",
        f"- Source: `{data.get('source', '?')}` ({data.get('dataset', '?')} naming convention): {corpus}.",
        f"- Training: {data.get('train_files', '?')} files from {len(data.get('train_speakers', []))} speakers "
        f"({', '.join(map(str, data.get('train_speakers', [])))}).",
        f"- Content hash of the training files (SHA-256 over their sorted audio hashes): `{data.get('train_sha256', '?')}`.",
        f"- Audio: decoded to mono at {info.get('audio', {}).get('sample_rate', '?')} Hz; features: "
        f"{len(info.get('feature_columns', []))} numbers per file ({'; '.join(family_descriptions(features))}).",
        *weights_lines(info),
        "",
        "## Model",
        "",
        f"scikit-learn pipeline `{info.get('estimator', '?')}`, trained with "
        + ", ".join(f"{key} {_param(value)}" for key, value in train.items()
                    if key not in MODEL_KEYS or key == train.get("model")) + " (`train` in params.yaml).",
        "",
        normalization_text(info),
        "",
        "## Evaluation protocol",
        "",
        protocol_text(info),
    ]
    if crossval:
        lines.append(f"Cross-validation: {crossval.get('folds', '?')} folds over all selected files, "
                     f"grouped by {'speaker' if crossval.get('by') == 'speaker' else 'nothing (random folds)'}.")
    lines += ["", "## Metrics", ""]
    if test:
        lines += [
            f"Test set: {test.get('test_files', '?')} files. Chance UAR is {1 / len(classes):.3f}. Expected accuracy "
            "depends on how many recordings of a speaker come together: `ser predict` and the page normalise a "
            "speaker by their own recordings, so one recording alone scores lower (the one-recording row).",
            "",
            "| measure | test set | cross-validation (mean ± std) |",
            "| --- | --- | --- |",
        ]
        for key, name in (("accuracy", "accuracy"), ("uar", "UAR (balanced accuracy), many recordings of a speaker"),
                          ("uar_one_clip", "UAR, one recording at a time"), ("f1_macro", "macro F1")):
            cv = (f"{crossval[key + '_mean']:.3f} ± {crossval[key + '_std']:.3f}"
                  if key + "_mean" in crossval else "n/a")
            lines.append(f"| {name} | {_score(test.get(key))} | {cv} |")
        lines.append(f"| ROC AUC, macro one-vs-rest | {_score(test.get('roc_auc_macro'))} | n/a |")
        lines.append(f"| expected calibration error (10 bins; one recording) | {_score(test.get('ece'))} "
                     f"({_score(test.get('ece_one_clip'))}) | n/a |")
        per_class = test.get("per_class", {})
        if per_class:
            lines += ["", "| emotion | recall | precision | test files |", "| --- | --- | --- | --- |"]
            lines += [f"| {c} | {_score(per_class[c].get('recall'))} | {_score(per_class[c].get('precision'))} "
                      f"| {per_class[c].get('support', '?')} |" for c in classes if c in per_class]
    else:
        lines.append("Not evaluated: this bundle carries no metrics.")
    lines += [
        "",
        "## Limits",
        "",
    ]
    if demo:
        lines.append("- **Trained on synthetic signals, not speech.** Its predictions on real recordings mean "
                     "nothing; it exists so the pipeline runs offline. Train on a real corpus for real use.")
    lines += [
        "- Acted speech: actors portraying emotions on cue, clean studio audio, one speaker per file. Spontaneous, "
        "noisy, overlapping, telephone-band or far-field speech was not tested and will score lower.",
        f"- Language and voices: trained and tested only on {corpus}. Other languages, accents, children's "
        "and older voices were not tested.",
        f"- Only these {len(classes)} emotions exist for the model: any recording gets one of them, even if it "
        "expresses none. " + calibration_text(info),
        "- " + ("Speaker-independent test: the numbers above estimate accuracy on new voices of the same corpus."
                if speaker_overlap(info)[0] and not speaker_overlap(info)[1] else
                "The test set shares speakers with training: expect lower accuracy on new voices."),
        "- " + frames_text(features),
        "",
        "## Versions",
        "",
        ", ".join(f"{name} {v}" for name, v in info.get("versions", {}).items()) + ".",
        "",
    ]
    return "\n".join(lines)
