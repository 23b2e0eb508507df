"""Ingest: find a corpus's audio files, parse their names, check them, and list them.

The result is a manifest (one row per usable file) and a rejects table (one row
per unusable file, with the reason). A bad file never stops the run; only a
selection with too little usable data does, with a message saying what is missing.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ser.audio import AUDIO_SUFFIXES, AudioError, load_audio, probe
from ser.corpora import Convention, UnparsableName

MIN_FILES_PER_EMOTION = 2

class IngestError(RuntimeError):
    """The corpus, after rejecting bad files, cannot support the requested run."""

@dataclass
class IngestResult:
    """The usable files, the rejected ones with reasons, and how many were not selected."""

    manifest: pd.DataFrame
    rejected: pd.DataFrame
    skipped: int

    def counts(self) -> dict:
        """Summary numbers for the ingest metrics file."""
        return {
            "files": int(len(self.manifest)),
            "rejected": int(len(self.rejected)),
            "skipped_unselected_emotion": int(self.skipped),
            "speakers": int(self.manifest["speaker"].nunique()) if len(self.manifest) else 0,
            "per_emotion": {k: int(v) for k, v in self.manifest["emotion"].value_counts().sort_index().items()}
            if len(self.manifest) else {},
        }

def find_audio_files(root: Path) -> list[Path]:
    """Every entry below ``root`` named like audio, including folders and broken links so named."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            if name.lower().endswith(AUDIO_SUFFIXES):
                found.append(Path(folder) / name)
    return sorted(found)

def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

def ingest(source: Path, convention: Convention, emotions: tuple[str, ...] | str, *,
           sample_rate: int, min_samples: int) -> IngestResult:
    """Check every audio file below ``source`` and keep those of the selected emotions.

    ``emotions`` is a tuple of emotion names or ``"all"`` (every emotion the corpus has).
    Raises :class:`IngestError` when a selected emotion ends up with too few files.
    """
    source = Path(source)
    if not source.is_dir():
        raise IngestError(f"data.source {str(source)!r} is not a folder; point data.source at a folder of audio files or use demo")
    selected = set(convention.emotions if emotions == "all" else emotions)
    rows, rejected, skipped = [], [], 0
    first_with_hash: dict[str, str] = {}
    for path in find_audio_files(source):
        relative = path.relative_to(source).as_posix()
        try:
            fields = convention.parse(path)
        except UnparsableName as error:
            rejected.append({"path": str(path), "reason": f"unparsable name: {error}"})
            continue
        if fields["emotion"] not in selected:
            skipped += 1
            continue
        try:
            info = probe(path)
            load_audio(path, sample_rate, min_samples=min_samples)
            digest = file_sha256(path)
        except AudioError as error:
            rejected.append({"path": str(path), "reason": f"file {error}"})
            continue
        except OSError as error:
            rejected.append({"path": str(path), "reason": f"cannot be read: {error.strerror or error}"})
            continue
        if digest in first_with_hash:
            rejected.append({"path": str(path), "reason": f"duplicate: same audio as {first_with_hash[digest]}"})
            continue
        first_with_hash[digest] = relative
        rows.append({
            "file": relative, "path": str(path), **fields,
            "duration": round(info.duration, 6), "sample_rate": info.sample_rate,
            "channels": info.channels, "sha256": digest,
        })
    result = IngestResult(
        manifest=_ordered(pd.DataFrame(rows)),
        rejected=pd.DataFrame(rejected, columns=["path", "reason"]),
        skipped=skipped,
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
            "check data.source and data.dataset"
        )
    short = {e: int(counts.get(e, 0)) for e in wanted if counts.get(e, 0) < MIN_FILES_PER_EMOTION}
    if short:
        listed = ", ".join(f"{e}: {n}" for e, n in short.items())
        raise IngestError(
            f"too few usable files for data.emotions ({listed}; at least {MIN_FILES_PER_EMOTION} each needed, "
            f"{len(result.rejected)} files rejected, see rejected.csv); drop these emotions from data.emotions "
            "or fix the corpus"
        )

def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV, keeping ids such as speaker ``"01"`` as strings."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column, kind in (("duration", float), ("sample_rate", int), ("channels", int)):
        if column in frame:
            frame[column] = frame[column].astype(kind)
    return frame
