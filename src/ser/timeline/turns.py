"""Who speaks when in a conversation: speaker turns read from an RTTM file, the diarization format pyannote and
others write.

An RTTM file (NIST's Rich Transcription Time Marked) holds one turn per ``SPEAKER`` line of ten fields separated by
spaces: ``SPEAKER <file id> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>``, times in seconds; the
file id is the recording's name without its suffix. Lines of other types, blank lines and ``;;`` comments are
skipped. With turns, the timeline treats each speaker of a recording as a speaker of their own: their speech
(the detector's regions within their turns) is standardised by their own windows and labelled with their name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ser.errors import SerError, shorten

FIELDS = ("type", "file id", "channel", "onset", "duration", "orthography", "speaker type", "speaker", "confidence")


class TurnsError(SerError, ValueError):
    """An RTTM file that cannot be read; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Turn:
    """One speaker's turn, in seconds from the recording's start."""

    start: float
    end: float
    speaker: str


def read_rttm(path: str | Path) -> dict[str, list[Turn]]:
    """The turns of each file id in ``path``, in onset order; raises :class:`TurnsError` for a file that cannot be
    read or a malformed ``SPEAKER`` line (one line naming the file and the line)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TurnsError(
            f"{path} cannot be read as an RTTM file ({error}); give the diarization's .rttm file"
        ) from None
    found: dict[str, list[Turn]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith(";;") or fields[0] != "SPEAKER":
            continue
        file_id, turn = _turn(fields, f"{path} line {number}")
        if turn.end > turn.start:
            found.setdefault(file_id, []).append(turn)
    if not found:
        raise TurnsError(f"{path} has no SPEAKER lines; give an RTTM file of speaker turns (pyannote writes them)")
    return {file_id: sorted(turns, key=lambda t: (t.start, t.end)) for file_id, turns in found.items()}


def _turn(fields: list[str], where: str) -> tuple[str, Turn]:
    """The file id and turn of one ``SPEAKER`` line's ``fields``."""
    expected = "SPEAKER <file id> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>"
    if len(fields) not in (9, 10):
        raise TurnsError(f"{where} has {len(fields)} fields, not the 10 of an RTTM SPEAKER line: {expected}")
    numbers = []
    for index in (3, 4):
        try:
            value = float(fields[index])
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise TurnsError(
                f"{where}: its {FIELDS[index]} {shorten(fields[index])!r} is not a number of seconds from 0; "
                f"the line should read {expected}"
            )
        numbers.append(value)
    onset, duration = numbers
    return fields[1], Turn(onset, onset + duration, fields[7])


def turns_of(recording: str, table: dict[str, list[Turn]], rttm: str, alone: bool = False) -> list[Turn]:
    """The turns of ``recording`` in ``table`` (from :func:`read_rttm` of ``rttm``): those of its name without
    its suffix; an RTTM of one file id applies to a recording given ``alone`` whatever its name. Raises
    :class:`TurnsError` when it has none, worded to follow the recording's path (its failure, not the run's)."""
    stem = Path(recording).stem
    if stem in table:
        return table[stem]
    if alone and len(table) == 1:
        return next(iter(table.values()))
    ids = ", ".join(sorted(table)[:5]) + (", ..." if len(table) > 5 else "")
    raise TurnsError(f"has no speaker turns in {rttm} (its file ids: {ids})")


def speaker_regions(regions: list[tuple[float, float]], turns: list[Turn]) -> dict[str, list[tuple[float, float]]]:
    """Each speaker's part of the speech ``regions``: where they overlap that speaker's turns, in time order (two
    speakers' parts overlap where they speak at once)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        mine = spans.setdefault(turn.speaker, [])
        if mine and turn.start <= mine[-1][1]:
            mine[-1] = (mine[-1][0], max(mine[-1][1], turn.end))
        else:
            mine.append((turn.start, turn.end))
    parts = {}
    for speaker, merged in spans.items():
        overlaps = [(max(a, c), min(b, d)) for a, b in regions for c, d in merged if min(b, d) - max(a, c) > 1e-9]
        parts[speaker] = sorted(overlaps)
    return parts
