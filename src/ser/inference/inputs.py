"""What a user gives to predict: the audio files among the paths, and each path that gives none, worded
with what to do about it (``x.wav is empty; give a readable audio file ...``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ser.corpus.conventions import AUDIO_SUFFIXES, find_audio_files

# What a person can do about each kind of per-file problem, by the start of its reason.
FIXES = (
    ("does not exist", "check the path"),
    ("is a broken link", "check the path"),
    ("cannot be read", "check its permissions"),
    ("cannot be listed", "check its permissions"),
    ("holds no audio files", f"give audio files ({', '.join(AUDIO_SUFFIXES)}) or folders holding them"),
    ("is silent", "give a recording with audible speech"),
    ("has no speech", "give a recording with audible speech"),
    ("is too short", "give a longer recording"),
    ("is longer than", ""),  # the reason says what to do
    ("is a directory", "give the audio files inside it"),
    ("would take this request past", ""),  # the reason says what to do
    ("has no speaker turns", "name the recording after its file id there"),
)
DEFAULT_FIX = "give a readable audio file (WAV, FLAC, OGG or AIFF)"


@dataclass(frozen=True)
class Arguments:
    """How a caller names what it can change, for messages that tell a person to change it: the command line's
    options (:data:`COMMAND_LINE`) or the Python API's arguments (:data:`PYTHON_API`)."""

    model: str  # the bundle's folder
    speaker: str  # one speaker for every file
    max_seconds: str  # the longest recording accepted


COMMAND_LINE = Arguments(model="--model DIR", speaker="--speaker ID", max_seconds="--max-seconds")
PYTHON_API = Arguments(model="ser.load(FOLDER)", speaker="speaker=ID", max_seconds="ser.load(..., max_seconds=S)")


@dataclass(frozen=True)
class Failure:
    """A file (or a path given for files) that could not be predicted, and why.

    ``str(failure)`` is the one-line message ``ser predict`` prints: the file, the reason, and what to do
    (``x.wav is empty; give a readable audio file (WAV, FLAC, OGG or AIFF)``). Like a prediction, it has ``ok``
    (False here) and :meth:`as_dict`, so a loop over ``predict``'s results needs no type check.

    Attributes
    ----------
    file : str
        The path as it was given.
    reason : str
        What is wrong, worded to read after the path (``is empty``, ``does not exist``).
    """

    file: str
    reason: str

    @property
    def ok(self) -> bool:
        """False: this file has no prediction (a :class:`~ser.inference.predictor.Prediction`'s ``ok`` is True)."""
        return False

    def as_dict(self, digits: int | None = None) -> dict:
        """The record of a file that could not be used, as the HTTP API reports a part it refused.

        Parameters
        ----------
        digits : int or None
            Unused: taken so that a failure and a prediction are called alike (a failure has no numbers).

        Returns
        -------
        dict
            ``{"file": str, "error": str}``: the path as given and the one-line message ``str(failure)``.
        """
        return {"file": self.file, "error": str(self)}

    @property
    def fix(self) -> str:
        """What a person can do about it, by the kind of reason (empty when the reason says it already)."""
        return next((fix for start, fix in FIXES if self.reason.startswith(start)), DEFAULT_FIX)

    def __str__(self) -> str:
        return f"{self.file} {self.reason}" + (f"; {self.fix}" if self.fix else "")


def find_inputs(paths: list[str]) -> tuple[list[str], list[Failure]]:
    """Files to predict (folders searched recursively for audio suffixes) and paths that give none.

    Each file appears once, in the order given; a folder's files in sorted order.
    """
    files: dict[str, None] = {}
    failures = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found, unlisted = find_audio_files(path)
            failures += [Failure(str(folder), f"cannot be listed ({reason})") for folder, reason in unlisted]
            if not found and not unlisted:
                failures.append(Failure(given, f"holds no audio files ({', '.join(AUDIO_SUFFIXES)})"))
            files.update(dict.fromkeys(str(p) for p in found))
        elif path.exists() or path.is_symlink():
            files[given] = None  # load_audio says what is wrong with a link, FIFO or non-audio file
        else:
            failures.append(Failure(given, "does not exist"))
    return list(files), failures
