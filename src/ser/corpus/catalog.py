"""The catalogue ingest writes (``data/catalog.csv``): one row per usable file, with its id, path, speaker,
emotion, the corpus's other labels, and its duration, sample rate, channels and SHA-256."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ser.errors import SerError

FIRST_COLUMNS = ("file", "path", "speaker", "emotion")  # then the corpus's own labels, then what ingest measured


def locate(path: str | Path, origin: str | Path | None) -> Path:
    """Where to open ``path``, a relative ``data.source`` or a catalogue row's path as written: from the current
    folder when it is there (or is absolute), else from ``origin``, the folder such paths were written for.

    A DVC experiment queued or run with ``--temp`` runs in a temporary copy of the repository that holds what git
    and DVC track, not a corpus beside or inside the workspace: ``origin`` is then the repository it started from.
    """
    path = Path(path)
    if origin is None or path.is_absolute() or os.path.lexists(path):
        return path
    return Path(origin) / path


def read_catalog(path: str | Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The ``columns`` of each row, as strings (speaker ``"01"`` stays ``"01"``), in catalogue order.

    Plain ``csv``: quick to import (no pandas), and only these columns are held (arrow's csv
    reader would leave its buffers in arrow's memory pool, tens of MB for a large corpus).
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in columns if column not in (reader.fieldnames or [])]
        if missing:
            raise SerError(f"{path} lacks the columns {missing}; re-run the ingest stage")
        repeated: dict[str, str] = {}  # speakers and emotions recur: keep one copy of each
        return [
            {
                column: repeated.setdefault(row[column], row[column])
                if column in ("speaker", "emotion")
                else row[column]
                for column in columns
            }
            for row in reader
        ]
