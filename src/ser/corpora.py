"""Corpus naming conventions: from a file name to its speaker, emotion and other fields.

Every convention maps its corpus's own labels onto one shared emotion vocabulary
(:data:`EMOTIONS`) and yields a speaker id, so the speaker-independent split works
on any of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


class UnparsableName(ValueError):
    """A file name does not follow the corpus convention."""


@dataclass(frozen=True)
class Convention:
    """A corpus naming convention: its emotion set and a file-name parser."""

    name: str
    emotions: tuple[str, ...]
    parse: Callable[[Path], dict[str, str]]


# RAVDESS: MM-VC-EE-II-SS-RR-AA (Livingstone & Russo 2018, PLoS ONE 13(5): e0196391).
_RAVDESS_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement", "repetition", "actor")
_RAVDESS_CODES = {
    "modality": {"01": "audio-video", "02": "video-only", "03": "audio-only"},
    "vocal_channel": {"01": "speech", "02": "song"},
    "emotion": {f"{i:02d}": emotion for i, emotion in enumerate(EMOTIONS, start=1)},
    "intensity": {"01": "normal", "02": "strong"},
    "statement": {"01": "kids", "02": "dogs"},
    "repetition": {"01": "1", "02": "2"},
}


def parse_ravdess(path: Path) -> dict[str, str]:
    """Parse ``03-01-05-02-01-01-12.wav``: emotion angry, strong intensity, actor 12."""
    parts = Path(path).stem.split("-")
    if len(parts) != len(_RAVDESS_FIELDS):
        raise UnparsableName(f"expected 7 dash-separated two-digit codes MM-VC-EE-II-SS-RR-AA, got {Path(path).name!r}")
    fields = dict(zip(_RAVDESS_FIELDS, parts))
    parsed = {}
    for name, code in fields.items():
        if name == "actor":
            if len(code) != 2 or not code.isdigit() or code == "00":
                raise UnparsableName(f"actor code {code!r} in {Path(path).name!r} is not 01-99")
            continue
        if code not in _RAVDESS_CODES[name]:
            allowed = ", ".join(_RAVDESS_CODES[name])
            raise UnparsableName(f"{name} code {code!r} in {Path(path).name!r} is not one of {allowed}")
        parsed[name] = _RAVDESS_CODES[name][code]
    actor = fields["actor"]
    parsed.update(speaker=actor, actor=actor, gender="male" if int(actor) % 2 else "female")
    return parsed


CONVENTIONS: dict[str, Convention] = {
    "ravdess": Convention("ravdess", EMOTIONS, parse_ravdess),
}
