"""Ingest: find a corpus's audio files, parse their names, check them, and list them.

The result is a manifest (one row per usable file) and a rejects table (one row
per unusable file, with the reason). A bad file never stops the run; only a
selection with too little usable data does, with a message saying what is missing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from ser.audio import AudioError, load_audio, probe
from ser.corpora import Convention, CorpusError, ManifestConvention
from ser.errors import SerError
from ser.files import sha256_of

MIN_FILES_PER_EMOTION = 2


class IngestError(SerError, RuntimeError):
    """The corpus, after rejecting bad files, cannot support the requested run.

    ``result`` holds what ingest found when it got that far, so the rejects can
    still be reported.
    """

    def __init__(self, message: str, result: "IngestResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass
class IngestResult:
    """The usable files, the rejected ones with reasons, and how many were not selected."""

    manifest: pd.DataFrame
    rejected: pd.DataFrame
    skipped: int
    duplicates: int = 0

    def counts(self) -> dict:
        """Summary numbers for the ingest metrics file."""
        return {
            "files": int(len(self.manifest)),
            "rejected": int(len(self.rejected)),
            "duplicates": int(self.duplicates),
            "skipped_unselected_emotion": int(self.skipped),
            "speakers": int(self.manifest["speaker"].nunique()) if len(self.manifest) else 0,
            "per_emotion": {k: int(v) for k, v in self.manifest["emotion"].value_counts().sort_index().items()}
            if len(self.manifest) else {},
        }


def ingest(source: Path, convention: Convention | ManifestConvention, emotions: tuple[str, ...] | str, *,
           sample_rate: int, min_samples: int, rejected: Iterable[dict] = ()) -> IngestResult:
    """Check every audio file of the corpus at ``source`` and keep those of the selected emotions.

    ``emotions`` is a tuple of emotion names or ``"all"`` (every emotion the corpus has).
    ``rejected`` holds rejections found before ingest (refused archive entries); they
    are reported with the rest. Two files that decode to the same samples are the same
    audio: the first (in path order) is kept, the other reported as a duplicate.
    Raises :class:`IngestError` when a selected emotion ends up with too few files.
    """
    try:
        entries = list(convention.entries(Path(source)))
    except CorpusError as error:
        raise IngestError(str(error)) from None
    selected = set(convention.emotions if emotions == "all" else emotions)
    rows, rejected, skipped, duplicates = [], list(rejected), 0, 0
    first_with_audio: dict[str, str] = {}
    for entry in entries:
        if entry.problem:
            rejected.append({"path": str(entry.path), "reason": entry.problem})
            continue
        if entry.fields["emotion"] not in selected:
            skipped += 1
            continue
        try:
            info = probe(entry.path)
            samples = load_audio(entry.path, sample_rate, min_samples=min_samples)
            digest = sha256_of(entry.path)
        except AudioError as error:
            rejected.append({"path": str(entry.path), "reason": f"file {error}"})
            continue
        except OSError as error:
            rejected.append({"path": str(entry.path), "reason": f"file cannot be read: {error.strerror or error}"})
            continue
        audio = hashlib.sha256(samples.tobytes()).hexdigest()
        if audio in first_with_audio:
            duplicates += 1
            rejected.append({"path": str(entry.path), "reason": f"duplicate: same audio as {first_with_audio[audio]}"})
            continue
        first_with_audio[audio] = entry.file
        rows.append({
            "file": entry.file, "path": str(entry.path), **entry.fields,
            "duration": round(info.duration, 6), "sample_rate": info.sample_rate,
            "channels": info.channels, "sha256": digest,
        })
    result = IngestResult(
        manifest=_ordered(pd.DataFrame(rows)),
        rejected=pd.DataFrame(rejected, columns=["path", "reason"]),
        skipped=skipped,
        duplicates=duplicates,
    )
    _check_enough(result, emotions, selected)
    return result


def _ordered(manifest: pd.DataFrame) -> pd.DataFrame:
    if manifest.empty:
        return pd.DataFrame(columns=["file", "path", "speaker", "emotion"])
    first = ["file", "path", "speaker", "emotion"]
    return manifest[first + [c for c in manifest.columns if c not in first]]

def _check_enough(result: IngestResult, emotions, selected: set[str]) -> None:
    counts = result.manifest["emotion"].value_counts() if len(result.manifest) else pd.Series(dtype=int)
    wanted = sorted(selected) if emotions != "all" else sorted(counts.index)
    if not wanted:
        raise IngestError(
            f"no usable audio files found ({len(result.rejected)} rejected, {result.skipped} of unselected emotions); "
            "check data.source and data.dataset", result)
    short = {e: int(counts.get(e, 0)) for e in wanted if counts.get(e, 0) < MIN_FILES_PER_EMOTION}
    if short:
        listed = ", ".join(f"{e}: {n}" for e, n in short.items())
        raise IngestError(
            f"too few usable files for data.emotions ({listed}; at least {MIN_FILES_PER_EMOTION} each needed, "
            f"{len(result.rejected)} files rejected, see rejected.csv); drop these emotions from data.emotions "
            "or fix the corpus", result)

def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV, keeping ids such as speaker ``"01"`` as strings."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column, kind in (("duration", float), ("sample_rate", int), ("channels", int)):
        if column in frame:
            frame[column] = frame[column].astype(kind)
    return frame
