"""Every documented bound that refuses what is "longer than" / "more than" / "larger than" / "fewer than" a limit:
exactly at the bound is accepted, one unit past it is refused (each checking function, and the real path where it
is cheap). Downloads (data.max_download_bytes) are bounded on their real path in tests/test_sources.py."""

import asyncio
import tarfile

import numpy as np
import pytest
import soundfile as sf

from ser.corpus.audio import MAX_SAMPLES_PER_BYTE, AudioError, AudioInfo, check_size, load_audio, probe
from ser.corpus.sources import MAX_TAR_HEADER, ArchiveLimits, Refusal, SourceError, extract_archive
from ser.errors import shorten
from ser.modeling.normalize import SHRINK_BELOW, normalize_by_speaker, normalize_new_speakers
from tests.archives import long_header_tar
from tests.audiofiles import tone, write_absurd_header_flac
from tests.conftest import require

RATE = 16000


def write_frames(path, frames: int, channels: int = 1):
    """A WAV tone of exactly ``frames`` frames at 16 kHz."""
    sf.write(path, tone(seconds=frames / RATE + 1, channels=channels)[:frames], RATE, subtype="PCM_16")
    assert sf.info(path).frames == frames
    return path


@pytest.mark.parametrize("max_seconds, channels", [(300, 1), (2.5, 2), (0.0625, 1)])
def test_a_duration_of_exactly_audio_max_seconds_is_accepted_one_frame_more_refused(max_seconds, channels):
    frames = int(max_seconds * RATE)
    check_size(AudioInfo(RATE, channels, frames), file_bytes=frames * channels, max_seconds=max_seconds)
    with pytest.raises(AudioError, match=rf"is longer than the {max_seconds:g} s limit .*raise audio.max_seconds"):
        check_size(AudioInfo(RATE, channels, frames + 1), file_bytes=frames * channels, max_seconds=max_seconds)


def test_load_audio_takes_a_file_exactly_max_seconds_long_and_refuses_one_frame_more(tmp_path):
    exact = load_audio(write_frames(tmp_path / "exact.wav", RATE), RATE, max_seconds=1)
    assert exact.shape == (RATE,)
    with pytest.raises(AudioError, match="is longer than the 1 s limit .*raise --max-seconds"):
        load_audio(write_frames(tmp_path / "over.wav", RATE + 1), RATE, max_seconds=1, limit="--max-seconds")


@pytest.mark.parametrize("channels", [1, 2])
def test_a_header_claiming_exactly_the_samples_per_byte_bound_is_accepted_one_more_refused(channels):
    file_bytes = 2521
    frames = MAX_SAMPLES_PER_BYTE * file_bytes // channels
    check_size(AudioInfo(RATE, channels, frames), file_bytes)
    with pytest.raises(AudioError, match=f"claiming {channels * frames + channels:,} samples in {file_bytes:,} bytes"):
        check_size(AudioInfo(RATE, channels, frames + 1), file_bytes)


def test_a_flac_header_at_the_samples_per_byte_bound_passes_the_probe_one_more_is_refused(tmp_path):
    size = write_absurd_header_flac(tmp_path / "size.flac").stat().st_size  # the same length whatever it claims
    at_bound = write_absurd_header_flac(tmp_path / "at.flac", MAX_SAMPLES_PER_BYTE * size)
    assert at_bound.stat().st_size == size
    assert probe(at_bound).frames == MAX_SAMPLES_PER_BYTE * size
    with pytest.raises(AudioError, match=f"claiming {MAX_SAMPLES_PER_BYTE * size + 1:,} samples in {size:,} bytes"):
        probe(write_absurd_header_flac(tmp_path / "over.flac", MAX_SAMPLES_PER_BYTE * size + 1))


def test_exactly_min_samples_is_long_enough_one_fewer_too_short(tmp_path):
    assert load_audio(write_frames(tmp_path / "frame.wav", 2048), RATE, min_samples=2048).shape == (2048,)
    with pytest.raises(AudioError, match="is too short: 2047 samples at 16000 Hz, fewer than one analysis frame"):
        load_audio(write_frames(tmp_path / "short.wav", 2047), RATE, min_samples=2048)


def test_archive_entries_and_bytes_exactly_at_the_limits_are_accepted_one_more_refused(tmp_path):
    limits = ArchiveLimits(max_bytes=1000, max_files=4)
    limits.check(tmp_path / "a.zip", tmp_path, [250, 250, 250, 250])
    with pytest.raises(SourceError, match=r"a.zip would expand to more than data.max_archive_bytes \(1000 bytes\)"):
        limits.check(tmp_path / "a.zip", tmp_path, [250, 250, 250, 251])
    limits.check(tmp_path / "a.zip", tmp_path, [0, 0, 0, 0])
    with pytest.raises(SourceError, match=r"a.zip has more than data.max_archive_files \(4\) entries"):
        limits.check(tmp_path / "a.zip", tmp_path, [0, 0, 0, 0, 0])


def test_a_tar_long_name_of_exactly_max_tar_header_bytes_is_read_one_byte_more_refuses_the_archive(tmp_path):
    limits = ArchiveLimits(max_bytes=1 << 20, max_files=10)
    at_bound = long_header_tar(tmp_path / "at.tar", MAX_TAR_HEADER, tarfile.GNUTYPE_LONGNAME)
    assert extract_archive(at_bound, tmp_path / "at", limits) == [
        Refusal(shorten("n" * MAX_TAR_HEADER), "cannot be written here (File name too long)")
    ]
    over = long_header_tar(tmp_path / "over.tar", MAX_TAR_HEADER + 1, tarfile.GNUTYPE_LONGNAME)
    with pytest.raises(SourceError, match=f"long-name header of {MAX_TAR_HEADER + 1:,} bytes"):
        extract_archive(over, tmp_path / "over", limits)


def upload_status(max_bytes: int, body: bytes, *, declared: bool, chunk: int = 7) -> int:
    """The status ser serve's body limit answers for ``body``, sent in chunks of ``chunk`` bytes, its length
    declared (Content-Length) or not (chunked); the app behind it reads the body whole and answers 200."""
    serve = require("ser.inference.serve")  # the serve extra
    messages = [
        {"type": "http.request", "body": body[i : i + chunk], "more_body": i + chunk < len(body)}
        for i in range(0, len(body), chunk)
    ]
    sent = []

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"content-length", str(len(body)).encode())] if declared else []
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers, "query_string": b""}
    asyncio.run(serve.BodyLimit(app, max_bytes)(scope, receive, send))
    return next(message["status"] for message in sent if message["type"] == "http.response.start")


@pytest.mark.parametrize("declared", [True, False])
def test_an_upload_of_exactly_max_upload_bytes_is_read_one_byte_more_is_413(declared):
    assert upload_status(100, bytes(100), declared=declared) == 200
    assert upload_status(100, bytes(101), declared=declared) == 413


def test_a_speaker_with_exactly_shrink_below_recordings_is_standardised_alone_one_fewer_is_shrunk():
    """docs/predict.md: a speaker with fewer than 10 recordings has their statistics shrunk toward the reference."""
    rows = np.random.default_rng(0).normal(3.0, 2.0, size=(SHRINK_BELOW, 4))
    reference = (np.zeros(4), np.ones(4))
    for n, alone in ((SHRINK_BELOW, True), (SHRINK_BELOW - 1, False)):
        speakers = ["07"] * n
        own = normalize_by_speaker(rows[:n], speakers)
        assert np.allclose(normalize_new_speakers(rows[:n], speakers, reference), own) == alone, n
