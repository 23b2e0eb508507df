"""Corpus conventions: which files a corpus has, and each file's speaker and emotion.

Every convention maps its corpus's own labels onto one shared emotion vocabulary
(:data:`ser.names.EMOTIONS`) and yields a speaker id, so the speaker-independent split works
on any of them. Name conventions (RAVDESS, CREMA-D, TESS, SAVEE, EmoDB) read the
labels from file names; the ``manifest`` convention reads them from a CSV file.
A file whose name or row cannot be understood becomes an :class:`Entry` with a
``problem``, never an exception, so one bad name does not stop a corpus.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from ser.config import ParamError
from ser.errors import SerError
from ser.names import EMOTIONS, RAVDESS_EMOTIONS

if TYPE_CHECKING:
    import pandas as pd

# The file names that count as audio when a folder is searched (a corpus, or a folder given to ser predict, ser timeline
# or ser serve's page): the usual suffixes of every format libsndfile decodes that has one, so a folder finds each file
# that, given by name, decodes (docs/corpora.md#audio-formats; tests/test_audio_formats.py writes and decodes each)
AUDIO_SUFFIXES = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aiff",
    ".aif",
    ".aifc",
    ".au",
    ".snd",
    ".caf",
    ".w64",
    ".rf64",
)

# Labels a manifest may use for a shared emotion (matched case-insensitively).
EMOTION_ALIASES = {
    "anger": "angry",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "fear": "fearful",
    "surprise": "surprised",
    "pleasant surprise": "surprised",
    "bored": "boredom",
}


class UnparsableName(SerError, ValueError):
    """A file name does not follow the corpus convention."""


class CorpusError(SerError, ValueError):
    """The corpus as a whole cannot be listed (for example a broken manifest CSV)."""


@dataclass(frozen=True)
class Entry:
    """One candidate audio file: where it is, its id, and its labels or why it has none."""

    path: Path
    file: str
    fields: dict[str, str] | None = None
    problem: str = ""


def find_audio_files(root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every entry below ``root`` named like audio, and the folders that could not be listed.

    Folders and broken links named like audio are included (ingest rejects them
    with a reason). Linked folders are followed, each real folder (device and inode) once,
    so a link loop ends. The walk keeps its own list of folders to visit rather than
    recursing, so no depth of nesting exhausts Python's recursion limit.
    """
    found, unlisted, seen = [], [], set()
    pending = [os.fspath(root)]
    while pending:
        folder = pending.pop()
        try:
            status = os.stat(folder)
            if (status.st_dev, status.st_ino) in seen:
                continue
            seen.add((status.st_dev, status.st_ino))
            subfolders = []
            with os.scandir(folder) as listing:
                for entry in listing:
                    if entry.name.lower().endswith(AUDIO_SUFFIXES):
                        found.append(Path(entry.path))
                    if _is_folder(entry):
                        subfolders.append(entry.path)
            pending += reversed(subfolders)  # depth first, in listing order: a linked folder's first path wins
        except OSError as error:
            unlisted.append((Path(folder), error.strerror or str(error)))
    return sorted(found), sorted(unlisted)


def _is_folder(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a folder or a link to one (an entry that cannot be examined is not)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


@dataclass(frozen=True)
class Convention:
    """A file-naming convention: the corpus's emotions and a parser from name to fields."""

    name: str
    emotions: tuple[str, ...]
    parse: Callable[[Path], dict[str, str]]

    def entries(self, root: Path) -> Iterator[Entry]:
        """Every audio-named file below the folder ``root``, parsed."""
        root = Path(root)
        if not root.exists():
            raise CorpusError(
                f"data.source {str(root)!r} does not exist; check the path (relative paths start at the project root)"
            )
        if not root.is_dir():
            raise CorpusError(
                f"data.source {str(root)!r} is not a folder; the {self.name} convention reads a folder of audio files"
            )
        found, unlisted = find_audio_files(root)
        for folder, reason in unlisted:
            yield Entry(folder, _relative(folder, root), problem=f"folder cannot be listed: {reason}")
        for path in found:
            try:
                yield Entry(path, _relative(path, root), self.parse(path))
            except UnparsableName as error:
                yield Entry(path, _relative(path, root), problem=f"unparsable name: {error}")


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _stem(path: Path) -> str:
    return PurePath(path).stem


def _name(path: Path) -> str:
    return PurePath(path).name


def _lookup(table: dict[str, str], code: str, what: str, path: Path) -> str:
    if code not in table:
        raise UnparsableName(f"{what} code {code!r} in {_name(path)!r} is not one of {', '.join(table)}")
    return table[code]


# RAVDESS: MM-VC-EE-II-SS-RR-AA.wav (Livingstone & Russo 2018, PLoS ONE 13(5): e0196391).
_RAVDESS_FIELDS = ("modality", "vocal_channel", "emotion", "intensity", "statement", "repetition", "actor")
_RAVDESS_CODES = {
    "modality": {"01": "audio-video", "02": "video-only", "03": "audio-only"},
    "vocal_channel": {"01": "speech", "02": "song"},
    "emotion": {f"{i:02d}": emotion for i, emotion in enumerate(RAVDESS_EMOTIONS, start=1)},
    "intensity": {"01": "normal", "02": "strong"},
    "statement": {"01": "kids", "02": "dogs"},
    "repetition": {"01": "1", "02": "2"},
}


def parse_ravdess(path: Path) -> dict[str, str]:
    """Parse ``03-01-05-02-01-01-12.wav``: emotion angry, strong intensity, actor 12."""
    parts = _stem(path).split("-")
    if len(parts) != len(_RAVDESS_FIELDS):
        raise UnparsableName(f"expected 7 dash-separated two-digit codes MM-VC-EE-II-SS-RR-AA, got {_name(path)!r}")
    fields = dict(zip(_RAVDESS_FIELDS, parts))
    parsed = {}
    for name, code in fields.items():
        if name == "actor":
            if len(code) != 2 or not code.isdigit() or code == "00":
                raise UnparsableName(f"actor code {code!r} in {_name(path)!r} is not 01-99")
            continue
        parsed[name] = _lookup(_RAVDESS_CODES[name], code, name, path)
    actor = fields["actor"]
    parsed.update(speaker=actor, actor=actor, gender="male" if int(actor) % 2 else "female")
    return parsed


# CREMA-D: ActorID_Sentence_Emotion_Level.wav, e.g. 1001_DFA_ANG_XX.wav (Cao et al. 2014).
_CREMAD_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
_CREMAD_EMOTIONS = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry", "FEA": "fearful", "DIS": "disgust"}
_CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}


def parse_cremad(path: Path) -> dict[str, str]:
    """Parse ``1001_DFA_ANG_XX.wav``: actor 1001, sentence DFA, angry, unspecified level."""
    parts = _stem(path).split("_")
    if len(parts) != 4 or not re.fullmatch(r"\d{4}", parts[0]):
        raise UnparsableName(f"expected ActorID_Sentence_Emotion_Level such as 1001_DFA_ANG_XX, got {_name(path)!r}")
    actor, sentence, emotion, level = parts
    if sentence not in _CREMAD_SENTENCES:
        raise UnparsableName(
            f"sentence code {sentence!r} in {_name(path)!r} is not one of {', '.join(_CREMAD_SENTENCES)}"
        )
    return {
        "speaker": actor,
        "actor": actor,
        "sentence": sentence,
        "emotion": _lookup(_CREMAD_EMOTIONS, emotion, "emotion", path),
        "level": _lookup(_CREMAD_LEVELS, level, "level", path),
    }


# TESS: Speaker_word_emotion.wav, e.g. OAF_back_angry.wav (Pichora-Fuller & Dupuis 2020).
_TESS_SPEAKERS = ("OAF", "YAF")
_TESS_EMOTIONS = {
    "neutral": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fear": "fearful",
    "disgust": "disgust",
    "ps": "surprised",
}


def parse_tess(path: Path) -> dict[str, str]:
    """Parse ``OAF_back_angry.wav``; ``ps`` (pleasant surprise) maps to surprised.

    The published corpus has one misnamed file, ``OAF_neutral/OA_bite_neutral.wav``:
    a name whose speaker is not OAF or YAF takes its speaker from a parent folder
    named ``OAF_...`` or ``YAF_...``.
    """
    parts = _stem(path).split("_")
    if len(parts) != 3 or not all(parts):
        raise UnparsableName(f"expected Speaker_word_emotion such as OAF_back_angry, got {_name(path)!r}")
    speaker, word, emotion = parts
    if speaker not in _TESS_SPEAKERS:
        folder_speaker = PurePath(path).parent.name.split("_")[0].upper()
        if folder_speaker not in _TESS_SPEAKERS or not folder_speaker.startswith(speaker.upper()):
            raise UnparsableName(f"speaker {speaker!r} in {_name(path)!r} is not OAF or YAF")
        speaker = folder_speaker
    return {
        "speaker": speaker,
        "word": word.lower(),
        "emotion": _lookup(_TESS_EMOTIONS, emotion.lower(), "emotion", path),
    }


# SAVEE: Speaker_<emotion><nn>.wav (DC_a01.wav) or AudioData/<Speaker>/<emotion><nn>.wav (Haq & Jackson 2009).
_SAVEE_EMOTIONS = {
    "n": "neutral",
    "h": "happy",
    "sa": "sad",
    "a": "angry",
    "f": "fearful",
    "d": "disgust",
    "su": "surprised",
}
_SAVEE_NAME = re.compile(r"(?:(?P<speaker>[A-Z]{2})_)?(?P<emotion>sa|su|[adfhn])(?P<sentence>\d{2})")


def parse_savee(path: Path) -> dict[str, str]:
    """Parse ``DC_a01.wav`` (flat release) or ``DC/a01.wav`` (the original AudioData folders)."""
    match = _SAVEE_NAME.fullmatch(_stem(path))
    if match is None:
        raise UnparsableName(f"expected [Speaker_]<a|d|f|h|n|sa|su><two digits> such as DC_a01, got {_name(path)!r}")
    speaker = match["speaker"] or PurePath(path).parent.name
    if not re.fullmatch(r"[A-Z]{2}", speaker):
        raise UnparsableName(
            f"{_name(path)!r} names no speaker: expected a DC_ prefix or a two-letter speaker folder, "
            f"got folder {speaker!r}"
        )
    return {"speaker": speaker, "emotion": _SAVEE_EMOTIONS[match["emotion"]], "sentence": match["sentence"]}


# EmoDB: SSTTTEV.wav, e.g. 03a01Fa.wav (Burkhardt et al. 2005). Letters are the German emotion words.
_EMODB_EMOTIONS = {
    "W": "angry",
    "L": "boredom",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}
_EMODB_GENDERS = {
    "03": "male",
    "08": "female",
    "09": "female",
    "10": "male",
    "11": "male",
    "12": "male",
    "13": "female",
    "14": "female",
    "15": "male",
    "16": "female",
}
_EMODB_NAME = re.compile(r"(?P<speaker>\d{2})(?P<text>[ab]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])")


def parse_emodb(path: Path) -> dict[str, str]:
    """Parse ``03a01Fa.wav``: speaker 03, text a01, Freude (happy), version a."""
    match = _EMODB_NAME.fullmatch(_stem(path))
    if match is None:
        raise UnparsableName(
            f"expected speaker(2 digits) text(a01-b10) emotion letter version such as 03a01Fa, got {_name(path)!r}"
        )
    speaker = match["speaker"]
    return {
        "speaker": speaker,
        "text": match["text"],
        "emotion": _lookup(_EMODB_EMOTIONS, match["emotion"], "emotion", path),
        "version": match["version"],
        "gender": _EMODB_GENDERS.get(speaker, "unknown"),
    }


MANIFEST_NAME = "manifest.csv"
MANIFEST_REQUIRED = ("path", "emotion", "speaker")
MANIFEST_RESERVED = ("file", "duration", "sample_rate", "channels", "sha256")  # columns ingest computes


def emotion_from_label(label: str) -> str | None:
    """The shared emotion a free-text label names (``"Fear"`` -> fearful), or None."""
    label = " ".join(label.strip().lower().replace("_", " ").split())
    if label in EMOTIONS:
        return label
    return EMOTION_ALIASES.get(label)


@dataclass(frozen=True)
class ManifestConvention:
    """Labels from a CSV: ``path,emotion,speaker`` and any extra columns, kept as metadata.

    ``data.source`` is the CSV itself, or a folder (or archive) holding exactly one
    ``manifest.csv``. Relative paths in the CSV are relative to the CSV's folder.
    """

    name: str = "manifest"
    emotions: tuple[str, ...] = EMOTIONS

    def locate(self, root: Path) -> Path:
        """The manifest CSV ``root`` names or holds."""
        root = Path(root)
        if root.is_file():
            return root
        if not root.is_dir():
            raise CorpusError(
                f"data.source {str(root)!r} does not exist; give a manifest CSV or a folder holding {MANIFEST_NAME}"
            )
        found = sorted(root.rglob(MANIFEST_NAME))
        if len(found) != 1:
            listed = ", ".join(str(p) for p in found) or "none"
            raise CorpusError(
                f"{str(root)!r} must hold exactly one {MANIFEST_NAME} (found: {listed}); "
                "or point data.source at the CSV"
            )
        return found[0]

    def entries(self, root: Path) -> Iterator[Entry]:
        """One entry per CSV row."""
        csv_path = self.locate(root)
        table = _read_manifest_csv(csv_path)
        extras = [c for c in table.columns if c not in MANIFEST_REQUIRED]
        for row_number, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
            where = f"{csv_path} line {row_number}"
            given = row["path"].strip()
            if not given:
                yield Entry(Path(where), where, problem=f"bad manifest row: empty path ({where})")
                continue
            path = csv_path.parent / given
            file = PurePath(given).as_posix()
            emotion = emotion_from_label(row["emotion"])
            if emotion is None:
                yield Entry(
                    path, file, problem=f"unknown emotion {row['emotion']!r} ({where}); allowed: {', '.join(EMOTIONS)}"
                )
            elif not row["speaker"].strip():
                yield Entry(path, file, problem=f"bad manifest row: empty speaker ({where})")
            else:
                fields = {"speaker": row["speaker"].strip(), "emotion": emotion}
                fields.update({column: row[column] for column in extras})
                yield Entry(path, file, fields)


def _read_manifest_csv(csv_path: Path) -> pd.DataFrame:
    import pandas as pd  # only manifest corpora need it; keeps `ser predict` start-up light

    if not csv_path.is_file():  # a FIFO named manifest.csv would block the read below
        raise CorpusError(f"manifest {str(csv_path)!r} is not a regular file; point data.source at a CSV file")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise CorpusError(
            f"manifest {str(csv_path)!r} is not a readable UTF-8 CSV: {error}".replace("\n", " ")
        ) from None
    except OSError as error:
        raise CorpusError(f"manifest {str(csv_path)!r} cannot be read: {error.strerror or error}") from None
    table.columns = [str(c).strip() for c in table.columns]
    renamed = {c: c.lower() for c in table.columns if c.lower() in MANIFEST_REQUIRED}
    table = table.rename(columns=renamed)
    missing = [c for c in MANIFEST_REQUIRED if c not in table.columns]
    if missing:
        raise CorpusError(
            f"manifest {str(csv_path)!r} lacks column(s) {', '.join(missing)}; "
            f"it needs {','.join(MANIFEST_REQUIRED)} (got {','.join(table.columns)})"
        )
    reserved = [c for c in table.columns if c.lower() in MANIFEST_RESERVED]
    if reserved:
        raise CorpusError(
            f"manifest {str(csv_path)!r}: column(s) {', '.join(reserved)} clash with columns ingest "
            f"computes ({', '.join(MANIFEST_RESERVED)}); rename them"
        )
    return table


def _emotions_of(codes: dict[str, str]) -> tuple[str, ...]:
    """The shared emotions a code table reaches, in vocabulary order."""
    return tuple(e for e in EMOTIONS if e in codes.values())


CONVENTIONS: dict[str, Convention | ManifestConvention] = {
    "ravdess": Convention("ravdess", _emotions_of(_RAVDESS_CODES["emotion"]), parse_ravdess),
    "cremad": Convention("cremad", _emotions_of(_CREMAD_EMOTIONS), parse_cremad),
    "tess": Convention("tess", _emotions_of(_TESS_EMOTIONS), parse_tess),
    "savee": Convention("savee", _emotions_of(_SAVEE_EMOTIONS), parse_savee),
    "emodb": Convention("emodb", _emotions_of(_EMODB_EMOTIONS), parse_emodb),
    "manifest": ManifestConvention(),
}


def selected_convention(dataset: str, emotions: tuple[str, ...] | str) -> Convention | ManifestConvention:
    """The convention ``data.dataset`` names; :class:`ParamError` if ``data.emotions`` (a tuple, or ``all``) names
    an emotion its corpus does not have."""
    convention = CONVENTIONS[dataset]
    for emotion in () if emotions == "all" else emotions:
        if emotion not in convention.emotions:
            raise ParamError(
                "data.emotions",
                f"{emotion!r} is not an emotion of the {dataset} corpus; "
                f"allowed: all or a list of {', '.join(convention.emotions)}",
            )
    return convention
