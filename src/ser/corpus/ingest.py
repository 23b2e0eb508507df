"""Ingest: find a corpus's audio files, parse their names, check them, and list them.

The result is a catalogue (one row per usable file) and a rejects table (one row
per unusable file, with the reason). A bad file never stops the run; only a
selection with too little usable data does, with a message saying what is missing.
What decoding a file found is kept in a :class:`CheckCache` keyed by the file's
status, so a run over an unchanged corpus decodes nothing. That run imports neither pandas nor the audio decoders:
ingest runs on every ``dvc repro``, and they would be most of its time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ser.corpus import audio
from ser.corpus.audio import AudioError, UnreadableFile, check_file_kind, load_audio, probe
from ser.corpus.catalog import FIRST_COLUMNS, locate
from ser.corpus.conventions import Convention, CorpusError, ManifestConvention
from ser.errors import SerError
from ser.files import atomic_path, code_digest, read_record, sha256_of, stat_key, write_rows
from ser.progress import progress_bar

if TYPE_CHECKING:
    import pandas as pd

REJECTED_COLUMNS = ("path", "reason")

MIN_FILES_PER_EMOTION = 2


class IngestError(SerError, RuntimeError):
    """The corpus, after rejecting bad files, cannot support the requested run.

    ``result`` holds what ingest found when it got that far, so the rejects can
    still be reported.
    """

    def __init__(self, message: str, result: IngestResult | None = None):
        super().__init__(message)
        self.result = result


@dataclass
class IngestResult:
    """The usable files (``rows``, one dict each), the rejected ones with reasons (``rejects``), and how many were
    not selected."""

    rows: list[dict]
    rejects: list[dict]
    skipped: int
    duplicates: int = 0

    @property
    def columns(self) -> list[str]:
        """The catalogue's columns: :data:`~ser.corpus.catalog.FIRST_COLUMNS`, then the others in order of first
        appearance."""
        seen = dict.fromkeys(FIRST_COLUMNS)
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    @property
    def catalog(self) -> pd.DataFrame:
        """The usable files as a table, in the catalogue's columns."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    @property
    def rejected(self) -> pd.DataFrame:
        """The rejected files as a table: path and reason."""
        import pandas as pd

        return pd.DataFrame(self.rejects, columns=list(REJECTED_COLUMNS))

    def write_catalog(self, path: str | Path) -> None:
        """Write the usable files as the catalogue CSV, atomically (:func:`ser.files.write_rows`)."""
        write_rows(path, self.columns, self.rows)

    def write_rejected(self, path: str | Path) -> None:
        """Write the rejected files as a CSV of path and reason, atomically."""
        write_rows(path, REJECTED_COLUMNS, self.rejects)

    def counts(self) -> dict:
        """Summary numbers for the ingest metrics file."""
        return {
            "files": len(self.rows),
            "rejected": len(self.rejects),
            "duplicates": self.duplicates,
            "skipped_unselected_emotion": self.skipped,
            "speakers": len({row["speaker"] for row in self.rows}),
            "per_emotion": dict(sorted(Counter(row["emotion"] for row in self.rows).items())),
        }


class CheckCache:
    """What decoding each regular file found, kept between runs in one JSON file per check configuration.

    An entry is keyed by :func:`ser.files.stat_key` (device, inode, size, mtime, ctime), not
    by path: a second link to a file is not decoded again, and a file whose
    content changes gets a new key. The configuration (sample rate, minimum length and the
    longest duration and the source of :mod:`ser.corpus.audio`) names the file, so changing any of them starts afresh.
    Only the entries used by the last run are saved, so removed files drop out; the corpus folder (``corpus``, its
    real path) names the file too, so workspaces that share one cache folder keep their entries apart.
    """

    def __init__(
        self,
        folder: str | Path,
        sample_rate: int,
        min_samples: int,
        max_seconds: float | None = None,
        corpus: str | Path | None = None,
    ):
        where = os.path.realpath(corpus) if corpus is not None else None
        text = json.dumps([sample_rate, min_samples, max_seconds, code_digest(audio.__name__), where])
        self.path = Path(folder) / f"checks-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
        self.known: dict[str, list] = read_record(self.path)
        self.used: dict[str, list] = {}
        self.computed = 0

    def outcome(self, status: os.stat_result, compute) -> list:
        """The cached outcome for this file status, or ``compute()``'s, which is then kept."""
        key = stat_key(status)
        found = self.used.get(key, self.known.get(key))
        if found is None:
            found = compute()
            self.computed += 1
        self.used[key] = found
        return found

    def save(self) -> None:
        """Write the entries of this run, atomically, unless they are what was loaded."""
        if self.used != self.known:
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps(self.used, separators=(",", ":")))


def _examine(path: Path, sample_rate: int, min_samples: int, max_seconds: float | None) -> list:
    """Decode and hash one file: ``["ok", sha256, audio sha256, duration, rate, channels]`` or ``["bad", reason]``.

    Raises :class:`UnreadableFile` when the file system refuses it: that depends on who
    reads, not on the content, so it is never cached.
    """
    try:
        info = probe(path)
        samples = load_audio(path, sample_rate, min_samples=min_samples, max_seconds=max_seconds)
        digest = sha256_of(path)
    except UnreadableFile:
        raise
    except AudioError as error:
        return ["bad", f"file {error}"]
    except OSError as error:
        raise UnreadableFile(f"cannot be read: {error.strerror or error}") from None
    except Exception as error:  # noqa: BLE001 - whatever one file makes the decoder raise, it is that file's reason
        return ["bad", f"file cannot be decoded ({type(error).__name__}: {error})"]
    audio_digest = hashlib.sha256(samples.tobytes()).hexdigest()
    return ["ok", digest, audio_digest, round(info.duration, 6), info.sample_rate, info.channels]


def _inside(path: Path, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(root)


def ingest(
    source: Path,
    convention: Convention | ManifestConvention,
    emotions: tuple[str, ...] | str,
    *,
    sample_rate: int,
    min_samples: int,
    max_seconds: float | None = None,
    rejected: Iterable[dict] = (),
    cache: CheckCache | None = None,
    inside: Path | None = None,
    progress: bool = False,
    origin: Path | None = None,
) -> IngestResult:
    """Check every audio file of the corpus at ``source`` and keep those of the selected emotions.

    ``emotions`` is a tuple of emotion names or ``"all"`` (every emotion the corpus has). A file longer
    than ``max_seconds`` (``audio.max_seconds``) is rejected from its header, before it is decoded.
    ``rejected`` holds rejections found before ingest (refused archive entries); they
    are reported with the rest. Two files that decode to the same samples are the same
    audio: the first (in path order) is kept, the other reported as a duplicate.
    What the file system shows (type, link target, size) is checked on every run before
    anything opens a file; decoding and hashing go through ``cache`` when one is given.
    With ``inside`` (an extracted archive), a file that resolves outside that folder is
    rejected unopened. ``progress``: a bar of the files checked on stderr, if it is a terminal.
    A relative ``source`` missing from the current folder is read from ``origin`` (:func:`~ser.corpus.catalog.locate`),
    and the catalogue names its files relative to ``origin``, as a run there would.
    Raises :class:`IngestError` when a selected emotion ends up with too few files.
    """
    located = locate(source, origin)
    named = str if located == Path(source) else lambda path: os.path.relpath(path, origin)
    try:
        entries = list(convention.entries(located))
    except CorpusError as error:
        raise IngestError(str(error)) from None
    selected = set(convention.emotions if emotions == "all" else emotions)
    rows, rejected, skipped, duplicates = [], list(rejected), 0, 0
    first_with_audio: dict[str, str] = {}
    root = Path(os.path.realpath(inside)) if inside is not None else None
    for entry in progress_bar(entries, desc="ingest", shown=progress):
        if entry.problem:
            rejected.append({"path": named(entry.path), "reason": entry.problem})
            continue
        if entry.fields["emotion"] not in selected:
            skipped += 1
            continue
        if root is not None and not _inside(entry.path, root):
            rejected.append(
                {
                    "path": named(entry.path),
                    "reason": "outside the archive: a manifest in an archive may only name files of that archive",
                }
            )
            continue
        try:
            status = check_file_kind(entry.path)
            examine = lambda: _examine(entry.path, sample_rate, min_samples, max_seconds)  # noqa: E731, B023 (called in this pass)
            outcome = cache.outcome(status, examine) if cache is not None else examine()
        except AudioError as error:  # what the file system shows, or an unreadable file: never cached
            outcome = ["bad", f"file {error}"]
        if outcome[0] == "bad":
            rejected.append({"path": named(entry.path), "reason": outcome[1]})
            continue
        _, digest, audio_digest, duration, rate, channels = outcome
        if audio_digest in first_with_audio:
            duplicates += 1
            rejected.append(
                {"path": named(entry.path), "reason": f"duplicate: same audio as {first_with_audio[audio_digest]}"}
            )
            continue
        first_with_audio[audio_digest] = entry.file
        rows.append(
            {
                "file": entry.file,
                "path": named(entry.path),
                **entry.fields,
                "duration": duration,
                "sample_rate": rate,
                "channels": channels,
                "sha256": digest,
            }
        )
    result = IngestResult(rows=rows, rejects=rejected, skipped=skipped, duplicates=duplicates)
    _check_enough(result, emotions, selected)
    return result


def _check_enough(result: IngestResult, emotions, selected: set[str]) -> None:
    counts = Counter(row["emotion"] for row in result.rows)
    wanted = sorted(selected) if emotions != "all" else sorted(counts)
    if not wanted:
        raise IngestError(
            f"no usable audio files found ({len(result.rejects)} rejected, {result.skipped} of unselected emotions); "
            "check data.source and data.dataset",
            result,
        )
    short = {e: counts[e] for e in wanted if counts[e] < MIN_FILES_PER_EMOTION}
    if short:
        listed = ", ".join(f"{e}: {n}" for e, n in short.items())
        raise IngestError(
            f"too few usable files for data.emotions ({listed}; at least {MIN_FILES_PER_EMOTION} each needed, "
            f"{len(result.rejects)} files rejected, see rejected.csv); drop these emotions from data.emotions "
            "or fix the corpus",
            result,
        )
