"""Audio decoding: any file libsndfile reads, mixed down to mono and resampled.

:func:`load_audio` is the only way the project turns a file into samples, so
training, evaluation and prediction all hear the same thing. Files that cannot
give usable samples raise :class:`AudioError` with a reason a person can act on.
The decoders (numpy, libsndfile, soxr) are imported by the functions that decode: ingest's run over an unchanged
corpus only looks at what the file system shows (:func:`check_file_kind`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ser.errors import SerError

if TYPE_CHECKING:
    import numpy as np

SILENCE_PEAK = 1e-4  # below this absolute peak (about -80 dBFS) a file counts as silent
# A header claiming more decoded samples than this per byte of file is damaged or forged: speech in any codec
# gives well under 100 per byte, and an hour of a constant signal as libsndfile writes FLAC about 300.
MAX_SAMPLES_PER_BYTE = 4096
# Sample rates a real recording can have: telephony's 8 kHz down to 1 kHz for margin, studio rates up to 768 kHz.
SAMPLE_RATES = (1_000, 768_000)
# Integer formats decode within [-1, 1]; a float file may exceed full scale, but not by 60 dB: samples that loud are
# damaged or not audio, and squaring them in a spectrum overflows float32.
MAX_PEAK = 1000.0


class AudioError(SerError, ValueError):
    """A file cannot be used as audio; the message says why."""


class UnreadableFile(AudioError):
    """The file system refuses to open or read the file (permissions, I/O error): not a property of its content."""


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def check_file_kind(path: Path) -> os.stat_result:
    """Refuse what the file system already shows is not an audio file, before anything opens it.

    A folder, a broken link, a link loop, a FIFO, a socket or a device named like audio is
    refused here (opening a FIFO would block), and so is an empty file. Returns the status.
    """
    try:
        status = path.stat()
    except FileNotFoundError:
        raise AudioError("is a broken link" if path.is_symlink() else "does not exist") from None
    except OSError as error:
        raise UnreadableFile(f"cannot be read: {error.strerror or error}") from None
    if stat.S_ISDIR(status.st_mode):
        raise AudioError("is a directory, not an audio file")
    if not stat.S_ISREG(status.st_mode):
        raise AudioError("is not a regular file (a FIFO, socket or device)")
    if status.st_size == 0:
        raise AudioError("is empty (0 bytes)")
    return status


def probe(path: str | Path) -> AudioInfo:
    """Read the header of ``path`` without decoding the samples.

    Checks what the file system says first (:func:`check_file_kind`), and opens the
    file itself before libsndfile does, so a read error keeps its own reason.
    """
    import soundfile as sf

    path = Path(path)
    check_file_kind(path)
    try:
        with open(path, "rb") as handle:  # libsndfile reads it through Python: no limit of its own on path length
            handle.read(1)
            handle.seek(0)
            info = sf.info(handle)
    except OSError as error:
        raise UnreadableFile(f"cannot be read: {error.strerror or error}") from None
    except sf.LibsndfileError as error:
        raise AudioError(f"is not readable audio ({error.error_string})") from None
    except RuntimeError as error:  # older soundfile versions
        raise AudioError(f"is not readable audio ({error})") from None
    if info.frames <= 0:
        raise AudioError("has no audio samples")
    header = AudioInfo(info.samplerate, info.channels, info.frames)
    check_size(header, path.stat().st_size)
    return header


def check_size(
    info: AudioInfo, file_bytes: int, max_seconds: float | None = None, limit: str = "audio.max_seconds"
) -> None:
    """Refuse, from the header alone, a file whose sample rate is implausible (:data:`SAMPLE_RATES`), that would
    decode to more samples than its size allows (:data:`MAX_SAMPLES_PER_BYTE`) or that lasts longer than
    ``max_seconds`` (the setting named ``limit``)."""
    samples = info.frames * info.channels
    if not SAMPLE_RATES[0] <= info.sample_rate <= SAMPLE_RATES[1]:
        raise AudioError(
            f"has a sample rate of {info.sample_rate:,} Hz, which is not plausible (allowed: "
            f"{SAMPLE_RATES[0]:,} to {SAMPLE_RATES[1]:,} Hz): it is damaged or forged"
        )
    if samples > MAX_SAMPLES_PER_BYTE * file_bytes:
        raise AudioError(
            f"has a header claiming {samples:,} samples in {file_bytes:,} bytes (more than "
            f"{MAX_SAMPLES_PER_BYTE:,} per byte): it is damaged or forged"
        )
    if max_seconds is not None and info.duration > max_seconds:
        raise AudioError(
            f"is longer than the {max_seconds:g} s limit ({info.duration:,.1f} s): split it into "
            f"shorter recordings, or raise {limit}"
        )


def load_audio(
    path: str | Path,
    sample_rate: int,
    *,
    min_samples: int = 1,
    max_seconds: float | None = None,
    limit: str = "audio.max_seconds",
) -> np.ndarray:
    """Decode ``path`` to float32 mono at ``sample_rate``; reject unusable audio.

    Channels are averaged; resampling uses soxr's high-quality filter (as
    librosa does by default). Raises :class:`AudioError` for files that are
    unreadable, non-finite or far beyond full scale (:data:`MAX_PEAK`), silent,
    shorter than ``min_samples`` after resampling, longer than ``max_seconds``
    (the setting named ``limit``) by their header, or with an implausible rate or
    too large to decode (:func:`check_size`, checked before decoding).
    """
    import numpy as np
    import soxr

    samples, native_rate = _decode(Path(path), max_seconds, limit)
    if samples.size == 0:
        raise AudioError("has no audio samples")
    peak = _peak(samples)
    if not np.isfinite(peak):
        raise AudioError("contains NaN or infinite samples")
    if peak > MAX_PEAK:
        raise AudioError(
            f"has samples far beyond full scale (peak {peak:.3g}, more than {MAX_PEAK:g}): it is damaged or not audio"
        )
    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    if native_rate != sample_rate:
        try:
            mono = soxr.resample(mono, native_rate, sample_rate, quality="HQ").astype(np.float32, copy=False)
        except (ValueError, RuntimeError, MemoryError) as error:
            raise AudioError(f"cannot be resampled from {native_rate:,} Hz ({type(error).__name__}: {error})") from None
    if samples.shape[1] > 1 or native_rate != sample_rate:  # mixed down or resampled: a peak of its own
        peak = _peak(mono)
    if peak < SILENCE_PEAK:
        raise AudioError("is silent (peak below -80 dBFS)")
    if mono.size < min_samples:
        raise AudioError(
            f"is too short: {mono.size} samples at {sample_rate} Hz, fewer than one analysis frame ({min_samples})"
        )
    return np.ascontiguousarray(mono)


def _peak(samples: np.ndarray) -> float:
    """Largest absolute sample, from the extremes (no |x| array); NaN or infinite if any sample is."""
    return max(float(samples.max()), -float(samples.min()))


def _decode(path: Path, max_seconds: float | None, limit: str) -> tuple[np.ndarray, int]:
    """Every channel as float32 ``(frames, channels)`` and the native rate, opening the file once; its size
    checked from the header first (:func:`check_size`).

    Formats libsndfile cannot seek in (GSM 6.10 in WAV, for one) are read for the frame count their header
    gives. Whatever else decoding raises is this file's failure, worded as such, never the caller's.
    """
    import soundfile as sf

    status = check_file_kind(path)
    frames = 0
    try:
        with open(path, "rb") as raw, sf.SoundFile(raw) as handle:  # as in probe: any path length the OS takes
            frames = handle.frames
            check_size(AudioInfo(handle.samplerate, handle.channels, frames), status.st_size, max_seconds, limit)
            return handle.read(
                frames if not handle.seekable() else -1, dtype="float32", always_2d=True
            ), handle.samplerate
    except AudioError:
        raise
    except (OSError, RuntimeError) as error:  # libsndfile's errors are RuntimeErrors
        probe(path)  # raises with the precise reason (unreadable, not audio, no samples)
        raise AudioError(f"cannot be decoded ({error})") from None
    except MemoryError:
        raise AudioError(f"cannot be decoded: its {frames:,} frames do not fit in memory") from None
    except Exception as error:  # noqa: BLE001 - a decoder's surprise about one file must not stop the others
        raise AudioError(f"cannot be decoded ({type(error).__name__}: {error})") from None


def decode_blocks(
    path: str | Path,
    sample_rate: int,
    *,
    max_seconds: float | None = None,
    limit: str = "audio.max_seconds",
    block_seconds: float = 60.0,
):
    """``path`` decoded as :func:`load_audio` decodes it (mono float32 at ``sample_rate``), block by block, so a
    recording of hours is read in the memory of one block; the header is checked first (:func:`check_size`).
    Raises :class:`AudioError` for unreadable files and non-finite or far too loud samples as they come; the
    caller checks what only the whole file shows (silence)."""
    import numpy as np
    import soundfile as sf
    import soxr

    path = Path(path)
    status = check_file_kind(path)
    try:
        with open(path, "rb") as raw, sf.SoundFile(raw) as handle:
            check_size(AudioInfo(handle.samplerate, handle.channels, handle.frames), status.st_size, max_seconds, limit)
            native = handle.samplerate
            stream = (
                soxr.ResampleStream(native, sample_rate, 1, dtype="float32", quality="HQ")
                if native != sample_rate
                else None
            )
            size = max(1, int(block_seconds * native))
            while True:
                block = handle.read(size, dtype="float32", always_2d=True)
                last = len(block) < size
                peak = _peak(block) if block.size else 0.0
                if not np.isfinite(peak):
                    raise AudioError("contains NaN or infinite samples")
                if peak > MAX_PEAK:
                    raise AudioError(
                        f"has samples far beyond full scale (peak {peak:.3g}, more than {MAX_PEAK:g}): "
                        "it is damaged or not audio"
                    )
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                if stream is not None:
                    mono = stream.resample_chunk(mono, last=last)
                yield np.ascontiguousarray(mono, dtype=np.float32)
                if last:
                    return
    except AudioError:
        raise
    except (OSError, RuntimeError) as error:  # libsndfile's errors are RuntimeErrors
        probe(path)
        raise AudioError(f"cannot be decoded ({error})") from None
    except MemoryError:
        raise AudioError("cannot be decoded: a block of it does not fit in memory") from None
    except Exception as error:  # noqa: BLE001 - a decoder's surprise about one file must not stop the others
        raise AudioError(f"cannot be decoded ({type(error).__name__}: {error})") from None
