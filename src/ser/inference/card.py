"""The model card: what a bundle's model is for, what it was trained and tested on, and its limits.

Written from ``model.json`` (with its metrics) alone, so the card can never
disagree with the bundle it describes.
"""

from __future__ import annotations

from dataclasses import asdict

from ser.config import FeatureParams
from ser.inference.bundle import DEMO_WARNING, ModelRecord
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
SCORE_ROWS = (
    ("accuracy", "accuracy"),
    ("uar", "UAR (balanced accuracy), many recordings of a speaker"),
    ("uar_one_clip", "UAR, one recording at a time"),
    ("f1_macro", "macro F1"),
)


def _score(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _param(value) -> str:
    return ", ".join(map(str, value)).join("[]") if isinstance(value, (list, tuple)) else str(value)


def speaker_overlap(record: ModelRecord) -> tuple[list[str], list[str]]:
    """``(test speakers, test speakers also heard in training)`` from a complete bundle's record."""
    test = [str(s) for s in record.metrics["test"]["test_speakers"]]
    return test, sorted(set(test) & set(record.data.train_speakers))


def protocol_text(record: ModelRecord) -> str:
    """One sentence: whether the test set holds only voices the model never heard."""
    test, shared = speaker_overlap(record)
    by = record.split.by
    if not test:
        return f"Split by {by}; the test speakers are not recorded in this bundle."
    if shared:
        return (
            f"**Not speaker-independent**: {len(shared)} of the {len(test)} test speakers ({', '.join(shared)}) "
            f"also appear in training (split by {by}), so the test numbers overstate accuracy on new voices."
        )
    return (
        f"**Speaker-independent**: the {len(test)} test speakers ({', '.join(test)}) never appear in training "
        f"(split by {by})."
    )


def normalization_text(record: ModelRecord) -> str:
    """One sentence on per-speaker normalisation and what it asks of the user."""
    if record.normalize == "speaker":
        return (
            "Features are standardised per speaker, each speaker with the statistics of their own recordings "
            "(no labels needed). `ser predict` therefore groups recordings by speaker (from the file names, "
            f"or `--speaker`); a speaker with fewer than {SHRINK_BELOW} recordings, or a file whose name gives "
            "no speaker, has statistics shrunk toward the training speakers' average, with a warning, and "
            "scores lower than with a speaker's full set of recordings."
        )
    return "Features are not normalised per speaker: each recording is judged on its own."


def calibration_text(record: ModelRecord) -> str:
    """What the probabilities can be trusted for."""
    test = record.metrics["test"]
    measured = (
        f" On the test speakers their expected calibration error (10 bins of the top probability) is "
        f"{_score(test['ece'])}, {_score(test['ece_one_clip'])} for one recording at a time."
    )
    if record.train.calibrate:
        return (
            "The probabilities are temperature-scaled, with a temperature for a speaker's recordings normalised "
            "together and one for a lone recording (or a speaker with fewer than 10), each fitted on speakers held "
            "out from the training folds, normalised that way."
            + measured
            + " On other corpora and recording conditions they can still be "
            "overconfident."
        )
    return "The probabilities are the model's outputs, not calibrated confidences." + measured


def family_descriptions(features: FeatureParams) -> list[str]:
    """Each feature family with the statistics taken over its frames (the encoder: per layer)."""
    own = [family for family in features.families if family != "whisper"]
    parts = []
    if "whisper" in features.families:
        layers = features.whisper.layers
        named = "every layer" if layers == "all" else "layers " + ", ".join(map(str, layers))
        parts.append(f"Whisper's encoder, {named}: {', '.join(features.whisper.stats)} of each layer's frames")
    if own:
        parts.append(
            f"{', '.join(own)}: {', '.join(features.stats)} over frames of an STFT (n_fft "
            f"{features.n_fft}, hop {features.hop_length})"
        )
    return parts


def frames_text(features: FeatureParams) -> str:
    """What the per-file statistics keep of how the voice changes over time."""
    stats = set(features.stats) if any(f != "whisper" for f in features.families) else set()
    if "whisper" in features.families:
        stats |= set(features.whisper.stats)
    if stats == {"mean"}:
        return "Features are averages over the whole file: how the voice changes over time is not used."
    return (
        "Features summarise each file by statistics over its frames: their spread and trend are kept, but not "
        "the order of events within the recording."
    )


def weights_lines(record: ModelRecord) -> list[str]:
    """For whisper features: the weights' origin and digest, the runtime that ran them and the digest of the
    encoder graph it ran."""
    weights = record.whisper_weights
    if weights is None:
        return []
    return [
        f"- Pretrained encoder `whisper` (`features.whisper.model: {weights.model}`): {weights.source}; "
        f"weights SHA-256 `{weights.sha256}`.",
        f"  - run by {weights.runtime}: the encoder graph built from these weights for the layers above, "
        f"SHA-256 `{weights.graph}`.",
    ]


def corpus_size(record: ModelRecord) -> str:
    """``112 of the corpus's 168 files, 4 speakers`` (the corpus's count where the bundle records it), and the
    perturbed copies trained on beside them (``, and their copies phone 3400``)."""
    data = record.data
    of = f" of the corpus's {data.corpus_files}" if data.corpus_files is not None else ""
    copies = f", and their copies {', '.join(data.copies)}" if data.copies else ""
    return f"{data.train_files}{of} files, {len(data.train_speakers)} speakers{copies}"


def data_lines(record: ModelRecord, corpus: str) -> list[str]:
    data = record.data
    return [
        f"- Source: `{data.source}` ({data.dataset} naming convention): {corpus}.",
        f"- Training: {corpus_size(record)} ({', '.join(data.train_speakers)}).",
        f"- Content hash of the training files (SHA-256 over their sorted audio hashes): `{data.train_sha256}`.",
        f"- Audio: decoded to mono at {record.audio.sample_rate} Hz; features: {len(record.feature_columns)} numbers "
        f"per file ({'; '.join(family_descriptions(record.features))}).",
        *weights_lines(record),
    ]


def metrics_lines(record: ModelRecord) -> list[str]:
    test, crossval = record.metrics["test"], record.metrics["crossval"]
    lines = [
        f"Test set: {test['test_files']} files. Chance UAR is {1 / len(record.classes):.3f}. Expected accuracy "
        "depends on how many recordings of a speaker come together: `ser predict` and the page normalise a "
        "speaker by their own recordings, so one recording alone scores lower (the one-recording row).",
        "",
        "| measure | test set | cross-validation (mean ± std) |",
        "| --- | --- | --- |",
        *(
            f"| {name} | {_score(test[key])} | {crossval[key + '_mean']:.3f} ± {crossval[key + '_std']:.3f} |"
            for key, name in SCORE_ROWS
        ),
        f"| ROC AUC, macro one-vs-rest | {_score(test['roc_auc_macro'])} | n/a |",
        f"| expected calibration error (10 bins; one recording) | {_score(test['ece'])} "
        f"({_score(test['ece_one_clip'])}) | n/a |",
        "",
        "| emotion | recall | precision | test files |",
        "| --- | --- | --- | --- |",
    ]
    per_class = test["per_class"]
    return lines + [
        f"| {c} | {_score(per_class[c]['recall'])} | {_score(per_class[c]['precision'])} | {per_class[c]['support']} |"
        for c in record.classes
        if c in per_class
    ]


def limits_lines(record: ModelRecord, corpus: str) -> list[str]:
    test, shared = speaker_overlap(record)
    synthetic = [
        "- **Trained on synthetic signals, not speech.** Its predictions on real recordings mean "
        "nothing; it exists so the pipeline runs offline. Train on a real corpus for real use."
    ]
    return [
        *(synthetic if record.data.demo else []),
        "- Acted speech: actors portraying emotions on cue, clean studio audio, one speaker per file. Spontaneous, "
        "noisy, overlapping, telephone-band or far-field speech was not tested and will score lower.",
        f"- Language and voices: trained and tested only on {corpus}. Other languages, accents, children's "
        "and older voices were not tested.",
        f"- Only these {len(record.classes)} emotions exist for the model: any recording gets one of them, even if "
        "it expresses none. " + calibration_text(record),
        "- "
        + (
            "Speaker-independent test: the numbers above estimate accuracy on new voices of the same corpus."
            if test and not shared
            else "The test set shares speakers with training: expect lower accuracy on new voices."
        ),
        "- " + frames_text(record.features),
    ]


def model_card(record: ModelRecord) -> str:
    """The MODEL_CARD.md text for a complete bundle's record (one with ``metrics``)."""
    if record.metrics is None:
        raise ValueError("a model card needs the metrics of the complete bundle (the bundle stage's record)")
    train, classes = record.train, record.classes
    corpus = (
        "the synthetic demo corpus: generated signals, not speech"
        if record.data.demo
        else CORPUS_NOTES[record.data.dataset]
    )
    trained_with = ", ".join(
        f"{key} {_param(value)}" for key, value in asdict(train).items() if key not in MODEL_KEYS or key == train.model
    )
    crossval = record.metrics["crossval"]
    sections = {
        "Intended use": [
            f"Research and teaching: label a short recording of one speaker with one of {len(classes)} emotions "
            f"({', '.join(classes)}), as the emotion is *portrayed*, with `ser predict`. Not for decisions about "
            "people (hiring, health, security, policing): it recognises acted portrayals, not what anyone feels."
        ],
        "Data": data_lines(record, corpus),
        "Model": [
            f"scikit-learn pipeline `{record.estimator}`, trained with {trained_with} (`train` in params.yaml).",
            "",
            normalization_text(record),
        ],
        "Evaluation protocol": [
            protocol_text(record),
            f"Cross-validation: {crossval['folds']} folds over all selected files, grouped by "
            f"{'speaker' if crossval['by'] == 'speaker' else 'nothing (random folds)'}.",
        ],
        "Metrics": metrics_lines(record),
        "Limits": limits_lines(record, corpus),
        "Versions": [", ".join(f"{name} {v}" for name, v in record.versions.items()) + "."],
    }
    lines = [
        "# Model card: speech emotion recognition",
        "",
        "Written by the `bundle` stage from `model.json`; regenerate it with `dvc repro`, do not edit it.",
        "",
        *([f"**Warning: {DEMO_WARNING}.**", ""] if record.data.demo else []),
    ]
    for title, body in sections.items():
        lines += [f"## {title}", "", *body, ""]
    return "\n".join(lines)


def model_summary(record: ModelRecord) -> dict:
    """What ``ser info`` shows of a bundle: its emotions, training corpus and size, whether it is the demo model,
    headline metrics (None before the ``bundle`` stage adds them), versions and digests, in JSON types."""
    data, weights = record.data, record.whisper_weights
    test, crossval = (record.metrics or {}).get("test", {}), (record.metrics or {}).get("crossval", {})
    return {
        "emotions": list(record.classes),
        "demo": data.demo,
        "source": data.source,
        "convention": data.dataset,
        "corpus_files": data.corpus_files,
        "train_files": data.train_files,
        "train_speakers": list(data.train_speakers),
        "copies": list(data.copies),
        "model": record.estimator or record.train.model,
        "normalize": record.normalize,
        "metrics": None
        if record.metrics is None
        else {
            "test_files": test.get("test_files"),
            **{f"test_{key}": test.get(key) for key, _ in SCORE_ROWS},
            "crossval_folds": crossval.get("folds"),
            **{
                f"crossval_{key}_{end}": crossval.get(f"{key}_{end}")
                for key, _ in SCORE_ROWS[1:3]
                for end in ("mean", "std")
            },
        },
        "versions": dict(record.versions),
        "sha256": {
            "model.skops": record.model_sha256,
            "training files": data.train_sha256,
            **({} if weights is None else {f"whisper {weights.model} weights": weights.sha256}),
            **({} if weights is None else {f"encoder graph ({weights.runtime})": weights.graph}),
        },
    }
