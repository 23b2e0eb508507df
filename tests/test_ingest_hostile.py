"""Hostile corpora: each bad file is built for real next to good files; ingest must
reject it with a reason, keep every good file, and fail only when too little is left."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser.config import AudioParams
from ser.corpus.conventions import CONVENTIONS
from ser.corpus.ingest import IngestError, ingest
from tests.audiofiles import GOOD_RAVDESS, copy_good_files, tone, write_bad_audio

RAVDESS = CONVENTIONS["ravdess"]
SELECTED = ("neutral", "calm")
BAD = "Actor_20/03-01-01-01-01-01-20.wav"  # a valid name: neutral, selected, so the audio itself is checked


def run_ingest(corpus: Path, emotions=SELECTED):
    return ingest(corpus, RAVDESS, emotions, sample_rate=16000, min_samples=2048, max_seconds=AudioParams().max_seconds)


def reasons(result) -> dict[str, str]:
    return dict(zip(result.rejected["path"], result.rejected["reason"]))


def assert_good_files_kept(result, corpus: Path):
    assert sorted(result.catalog["file"]) == sorted(GOOD_RAVDESS)
    for path in result.catalog["path"]:
        assert Path(path).is_file() and Path(path).is_relative_to(corpus)


def good_wav_bytes(speech16k: Path) -> bytes:
    return (speech16k / GOOD_RAVDESS[0]).read_bytes()


def bad_audio(kind: str, reason: str):
    """A builder of one of the kinds of bad audio in tests.audiofiles, for which ingest gives ``reason``."""

    def make(bad: Path, speech16k: Path):
        write_bad_audio(bad, kind, speech16k / GOOD_RAVDESS[0])
        return reason

    return make


def make_corrupt_header(bad: Path, speech16k: Path):
    data = bytearray(good_wav_bytes(speech16k))
    data[8:16] = b"JUNKJUNK"  # "WAVEfmt " replaced: a RIFF file of no known form
    bad.write_bytes(bytes(data))
    return "file is not readable audio"


def make_random_bytes(bad: Path, speech16k: Path):
    bad.write_bytes(np.random.default_rng(11).bytes(20000))
    return "file is not readable audio"


def make_directory(bad: Path, speech16k: Path):
    bad.mkdir()
    return "file is a directory"


def make_broken_link(bad: Path, speech16k: Path):
    bad.symlink_to(bad.parent / "gone.wav")
    return "file is a broken link"


def make_link_loop(bad: Path, speech16k: Path):
    bad.symlink_to(bad.name)  # a link to itself: following it never ends
    return "file cannot be read: Too many levels of symbolic links"


def make_socket(bad: Path, speech16k: Path):
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(bad))  # the socket file stays when the socket is closed
    return "file is not a regular file"


def make_fifo(bad: Path, speech16k: Path):
    os.mkfifo(bad)  # opening it would block forever: it must be refused before any open
    return "file is not a regular file"


def make_infinite(bad: Path, speech16k: Path):
    samples = tone()
    samples[100] = np.inf
    sf.write(bad, samples, 16000, subtype="DOUBLE")
    return "file contains NaN or infinite samples"


def make_stereo_infinite_in_one_channel(bad: Path, speech16k: Path):
    samples = np.column_stack([tone(), tone()])
    samples[100, 1] = -np.inf
    sf.write(bad, samples, 16000, subtype="FLOAT")
    return "file contains NaN or infinite samples"


def make_stereo_cancelling_to_silence(bad: Path, speech16k: Path):
    """Each channel is loud, but they are opposite: the mono mixdown is silent."""
    sf.write(bad, np.column_stack([tone(), -tone()]), 16000, subtype="FLOAT")
    return "file is silent"


def make_cut_after_header(bad: Path, speech16k: Path):
    whole = good_wav_bytes(speech16k)
    assert whole[36:40] == b"data"  # canonical 44-byte header
    middle = len(whole) // 2 & ~1
    bad.write_bytes(whole[:44] + whole[middle : middle + 200])  # header claims 3.3 s; 100 samples of speech follow
    return "file is too short: 100 samples"


HOSTILE = {
    "zero-byte": bad_audio("empty", "file is empty (0 bytes)"),
    "truncated header": bad_audio("cut header", "file is not readable audio"),
    "corrupt header": make_corrupt_header,
    "text named .wav": bad_audio("not audio", "file is not readable audio"),
    "random bytes named .wav": make_random_bytes,
    "directory named .wav": make_directory,
    "broken link named .wav": make_broken_link,
    "link loop named .wav": make_link_loop,
    "FIFO named .wav": make_fifo,
    "socket named .wav": make_socket,
    "all-silent": bad_audio("silent", "file is silent"),
    "shorter than one frame": bad_audio("shorter than a frame", "file is too short: 160 samples"),
    "NaN samples": bad_audio("NaN samples", "file contains NaN or infinite samples"),
    "infinite samples": make_infinite,
    "stereo, minus infinity in one channel": make_stereo_infinite_in_one_channel,
    "stereo, channels cancelling to silence": make_stereo_cancelling_to_silence,
    "data cut right after the header": make_cut_after_header,
    "a header claiming 2**36 samples": bad_audio("absurd header", "file has a header claiming 68,719,476,735 samples"),
    "longer than audio.max_seconds": bad_audio(
        "too long",
        "file is longer than the 300 s limit (301.0 s): split it into shorter recordings, or raise audio.max_seconds",
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_bad_file_is_rejected_with_its_reason_and_good_files_survive(case, speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    copy_good_files(speech16k, corpus)
    bad = corpus / BAD
    bad.parent.mkdir(parents=True, exist_ok=True)
    expected = HOSTILE[case](bad, speech16k)
    result = run_ingest(corpus)
    assert reasons(result) == {str(bad): reasons(result)[str(bad)]}
    assert reasons(result)[str(bad)].startswith(expected), reasons(result)
    assert_good_files_kept(result, corpus)
    assert result.counts()["rejected"] == 1


def test_unparsable_name_is_rejected_and_good_files_survive(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    copy_good_files(speech16k, corpus)
    shutil.copyfile(speech16k / "Actor_03/03-01-01-01-01-01-03.wav", corpus / "Actor_03 take 2.wav")
    result = run_ingest(corpus)
    reason = reasons(result)[str(corpus / "Actor_03 take 2.wav")]
    assert reason.startswith("unparsable name: expected 7 dash-separated two-digit codes")
    assert_good_files_kept(result, corpus)


def test_same_audio_under_two_names_is_counted_once(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    good = copy_good_files(speech16k, corpus)
    copy = corpus / "Actor_01/03-01-01-01-01-02-01.wav"
    shutil.copyfile(good[0], copy)
    result = run_ingest(corpus)
    assert reasons(result) == {str(copy): f"duplicate: same audio as {GOOD_RAVDESS[0]}"}
    assert_good_files_kept(result, corpus)
    assert result.counts()["duplicates"] == 1 and result.counts()["files"] == 4


def test_same_samples_in_another_format_are_a_duplicate(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    good = copy_good_files(speech16k, corpus)
    samples, rate = sf.read(good[1], dtype="int16")
    flac = corpus / "Actor_01/03-01-02-01-01-02-01.flac"
    sf.write(flac, samples, rate, subtype="PCM_16")
    result = run_ingest(corpus)
    assert reasons(result) == {str(flac): f"duplicate: same audio as {GOOD_RAVDESS[1]}"}


def test_wav_cut_inside_its_data_is_kept_with_the_audio_it_has(speech16k, tmp_path):
    """libsndfile reads a WAV whose data chunk is cut short up to where the bytes end.
    The samples present are speech, so ingest keeps the file, with its true
    (shorter) duration; cut so short that less than a frame is left, it is rejected
    (see the case above)."""
    corpus = tmp_path / "corpus"
    copy_good_files(speech16k, corpus)
    whole = good_wav_bytes(speech16k)
    cut = corpus / "Actor_05/03-01-01-01-01-01-05.wav"
    cut.parent.mkdir()
    cut.write_bytes(whole[: 44 + (len(whole) - 44) // 2])
    result = run_ingest(corpus)
    assert result.rejected.empty
    row = result.catalog.set_index("file").loc["Actor_05/03-01-01-01-01-01-05.wav"]
    assert row["duration"] == pytest.approx(sf.info(speech16k / GOOD_RAVDESS[0]).duration / 2, abs=1e-3)


def test_linked_folders_are_followed_once_and_a_link_loop_cannot_hang(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    copy_good_files(speech16k, corpus)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(speech16k / "Actor_05/03-01-01-01-01-01-05.wav", elsewhere / "03-01-01-01-01-01-05.wav")
    (corpus / "Actor_05").symlink_to(elsewhere)
    (corpus / "Actor_01" / "loop").symlink_to(corpus)
    result = run_ingest(corpus)
    assert result.rejected.empty
    assert sorted(result.catalog["file"]) == sorted([*GOOD_RAVDESS, "Actor_05/03-01-01-01-01-01-05.wav"])


def test_unselected_emotions_are_skipped_and_counted_not_rejected(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    copy_good_files(speech16k, corpus)
    shutil.copyfile(speech16k / "Actor_01/03-01-05-01-01-01-01.wav", corpus / "03-01-05-01-01-01-01.wav")
    result = run_ingest(corpus)
    assert result.rejected.empty and result.skipped == 1
    assert result.counts()["skipped_unselected_emotion"] == 1
    assert_good_files_kept(result, corpus)


def test_selected_emotion_without_files_fails_naming_it_and_keeps_the_rejects(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    copy_good_files(speech16k, corpus)
    (corpus / BAD).parent.mkdir()
    (corpus / BAD).write_bytes(b"")
    with pytest.raises(IngestError) as caught:
        run_ingest(corpus, emotions=("neutral", "calm", "sad"))
    assert "sad: 0" in str(caught.value) and "drop these emotions from data.emotions" in str(caught.value)
    assert list(caught.value.result.rejected["path"]) == [str(corpus / BAD)]


def test_corpus_of_only_bad_files_fails_with_a_clear_message(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "03-01-01-01-01-01-01.wav").write_bytes(b"")
    (corpus / "readme.wav").write_text("hi")
    with pytest.raises(IngestError, match=r"calm: 0, neutral: 0; .*2 files rejected"):
        run_ingest(corpus)


def _ingest_as_nobody(corpus: Path) -> dict:
    """Run ingest in a forked child that has dropped root, so permission bits apply."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            result = run_ingest(corpus)
            payload = {"rejected": reasons(result), "files": sorted(result.catalog["file"])}
        except BaseException as error:  # report anything to the parent instead of dying silently
            payload = {"error": repr(error)}
        os.write(write_end, json.dumps(payload).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        payload = json.loads(pipe.read())
    os.waitpid(pid, 0)
    return payload


def test_unreadable_file_and_folder_are_rejected(speech16k):
    """chmod 000 does not stop root, so as root ingest runs in a child that drops to
    user nobody; as any other user it runs here. The same checks apply either way."""
    base = Path(tempfile.mkdtemp(prefix="ser-unreadable-"))  # pytest's tmp_path is closed to other users
    try:
        corpus = base / "corpus"
        copy_good_files(speech16k, corpus)
        locked_file = corpus / BAD
        locked_file.parent.mkdir()
        shutil.copyfile(speech16k / "Actor_03/03-01-01-01-01-01-03.wav", locked_file)
        locked_folder = corpus / "Actor_21"
        locked_folder.mkdir()
        shutil.copyfile(speech16k / "Actor_03/03-01-01-01-01-02-03.wav", locked_folder / "03-01-01-01-01-01-21.wav")
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        assert len(run_ingest(corpus).catalog) == 6  # readable, all six go through (and every lazy import is loaded)
        locked_file.chmod(0)
        locked_folder.chmod(0)
        if os.geteuid() == 0:
            outcome = _ingest_as_nobody(corpus)
        else:
            result = run_ingest(corpus)
            outcome = {"rejected": reasons(result), "files": sorted(result.catalog["file"])}
        assert "error" not in outcome, outcome
        assert outcome["rejected"] == {
            str(locked_file): "file cannot be read: Permission denied",
            str(locked_folder): "folder cannot be listed: Permission denied",
        }
        assert outcome["files"] == sorted(GOOD_RAVDESS)
    finally:
        for path in [base, *base.rglob("*")] if base.exists() else []:
            path.chmod(stat.S_IRWXU)
        shutil.rmtree(base, ignore_errors=True)
