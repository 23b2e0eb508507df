"""`ser timeline` and its library: speech detection on real audio, windows, smoothing, segments, the Python API
and the command as a user runs it, with failures."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ser
from ser.config import TimelineParams, VadParams
from ser.corpus.audio import decode_blocks, load_audio
from ser.inference.inputs import Failure
from ser.modeling import normalize
from ser.timeline import runtime
from ser.timeline.runtime import Timeline, timeline_of_samples
from ser.timeline.smoothing import UNCERTAIN, segments
from ser.timeline.speech import NO_SPEECH, speech_regions
from ser.timeline.windows import Window, WindowFeatures, stretches, windows_in
from tests.audiofiles import chords, tone, write_long_flac, write_tone
from tests.bundles import train_bundle
from tests.terminal import run_with_stderr_on_a_terminal

RATE = 16000
SER = [sys.executable, "-m", "ser"]
SLACK = VadParams().pad + 0.1  # seconds a speech region may reach beyond its clip: its padding, and a frame or so
SPEECH = ("Actor_05/03-01-01-01-01-01-05.wav", "Actor_05/03-01-05-02-01-01-05.wav", "Actor_06/03-01-08-02-02-01-06.wav")


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model", normalize="speaker")


def non_speech(seconds: float = 5.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = int(seconds * RATE)
    return {
        "silence": (1e-5 * rng.standard_normal(n)).astype(np.float32),
        "white noise": (0.05 * rng.standard_normal(n)).astype(np.float32),
        "tone": tone(seconds, RATE, amplitude=0.3)[:, 0].astype(np.float32),
        "music": chords(seconds, RATE, rng),
    }


def recording(speech16k: Path, gap: float = 2.0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Synthetic speech clips with ``gap`` seconds of silence before each and at the end, and each clip's span."""
    parts, spans, position = [], [], 0.0
    for name in SPEECH:
        clip = load_audio(speech16k / name, RATE)
        parts += [np.zeros(int(gap * RATE), np.float32), clip]
        spans.append((position + gap, position + gap + len(clip) / RATE))
        position = spans[-1][1]
    parts.append(np.zeros(int(gap * RATE), np.float32))
    return np.concatenate(parts), spans


def test_non_speech_has_no_speech_regions():
    for name, samples in non_speech().items():
        assert speech_regions(samples, VadParams()) == [], name


def test_speech_regions_lie_within_the_clips_and_cover_most_of_them(speech16k):
    samples, spans = recording(speech16k)
    regions = speech_regions(samples, VadParams())
    assert regions
    for start, end in regions:
        assert any(a - SLACK <= start and end <= b + SLACK for a, b in spans), (start, end)
    covered = sum(end - start for start, end in regions)
    assert covered > 0.5 * sum(b - a for a, b in spans)


@pytest.mark.real_speech
def test_real_speech_is_found_in_each_clip_and_nowhere_in_the_gaps(ravdess16k):
    files = sorted((ravdess16k / "Actor_07").glob("*.wav"))[::12]
    samples = np.concatenate([np.concatenate([np.zeros(RATE, np.float32), load_audio(f, RATE)]) for f in files])
    regions = speech_regions(samples, VadParams())
    starts = np.cumsum([0] + [1 + sf.info(f).duration for f in files])
    for k in range(len(files)):  # each second of silence before a clip is free of speech
        assert not any(start < starts[k] + 1 - SLACK and end > starts[k] + SLACK for start, end in regions)
    assert len({int(np.searchsorted(starts, start, side="right")) for start, _ in regions}) == len(files)


def test_stretches_are_at_most_30_seconds_and_windows_cover_them():
    pieces = stretches([(1.0, 71.0), (80.0, 81.0)])
    assert [b - a for a, b in pieces] == pytest.approx([70 / 3] * 3 + [1.0])
    assert pieces[0][0] == 1.0 and pieces[2][1] == 71.0
    found = windows_in(0.0, 5.3, 2.0, 0.5)
    assert found[0] == Window(0.0, 2.0) and found[-1] == Window(3.3, 5.3)
    assert all(w.end - w.start == pytest.approx(2.0) for w in found)
    assert windows_in(3.0, 4.0, 2.0, 0.5) == [Window(3.0, 4.0)]


def test_viterbi_removes_a_short_change_that_averaging_keeps():
    classes = ["angry", "sad"]
    windows = [Window(t, t + 1.0) for t in np.arange(0, 10, 1.0)]
    probabilities = np.array([[0.9, 0.1]] * 5 + [[0.3, 0.7]] + [[0.9, 0.1]] * 4)
    average = segments(windows, probabilities, classes, 10.0, TimelineParams(smoothing="average", uncertain=0))
    assert [s.emotion for s in average] == ["angry", "sad", "angry"]
    assert (average[1].start, average[1].end) == (5.0, 6.0)
    smoothed = segments(windows, probabilities, classes, 10.0, TimelineParams(smoothing="viterbi", change_penalty=2))
    assert [(s.emotion, s.start, s.end) for s in smoothed] == [("angry", 0.0, 10.0)]
    assert smoothed[0].confidence == pytest.approx((0.9 * 9 + 0.3) / 10, abs=1e-5)
    assert smoothed[0].probabilities["sad"] == pytest.approx((0.1 * 9 + 0.7) / 10, abs=1e-5)


def test_low_confidence_is_uncertain_and_non_speech_has_no_segment():
    classes = ["angry", "sad"]
    windows = [Window(0, 2), Window(2, 4), Window(6, 8)]
    probabilities = np.array([[0.55, 0.45], [0.5, 0.5], [0.9, 0.1]])
    found = segments(windows, probabilities, classes, 9.0, TimelineParams(smoothing="average", uncertain=0.6))
    assert [(s.emotion, s.start, s.end) for s in found] == [(UNCERTAIN, 0.0, 4.0), ("angry", 6.0, 8.0)]


def test_runs_of_windows_in_any_order_give_the_same_segments_and_a_gap_parts_them():
    classes = ["angry", "sad"]
    windows = [Window(0, 2), Window(1, 3), Window(3, 5), Window(5.5, 7.5), Window(6, 8)]  # 0-5 s touch at 3 s
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    settings = TimelineParams(smoothing="average", uncertain=0.1)
    found = segments(windows, probabilities, classes, 9.0, settings)
    assert [(s.emotion, s.start, s.end) for s in found] == [("angry", 0.0, 5.0), ("sad", 5.5, 8.0)]
    assert found[1].confidence == pytest.approx((0.5 * 0.8 + 1.5 * 0.7 + 0.5 * 0.6) / 2.5)  # 6-7.5 s: both windows
    order = [3, 0, 4, 2, 1]
    assert segments([windows[i] for i in order], probabilities[order], classes, 9.0, settings) == found


def test_windows_rows_kept_on_disk_give_the_segments_of_the_rows_stacked(bundle, speech16k, monkeypatch):
    samples, _ = recording(speech16k)
    settings = TimelineParams(window=0.5, hop=0.1)  # windows enough for several blocks and the speaker's own statistics
    predictor = ser.load(str(bundle)).timeline_model
    assert predictor.normalization == "speaker"
    features = WindowFeatures(predictor.extractor, predictor.order)
    windows, rows = [], []
    for start, end in stretches(speech_regions(samples, settings.vad)):
        piece = samples[round(start * RATE) : round(end * RATE)]
        found = windows_in(start, start + len(piece) / RATE, settings.window, settings.hop)
        rows.append(features(piece, start, found).astype(np.float32))
        windows += found
    X = np.vstack(rows)
    mean, std = normalize.new_speaker_statistics(X, predictor.speaker_reference)
    expected = segments(
        windows, predictor.model.predict_proba((X - mean) / std), predictor.classes, len(samples) / RATE, settings
    )
    in_memory = timeline_of_samples(predictor, samples, RATE, settings)
    files, temporary_file = [], tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *a, **k: files.append(temporary_file(*a, **k)) or files[-1])
    monkeypatch.setattr(runtime, "SPOOL_BYTES", 1)  # every row on disk
    monkeypatch.setattr(runtime, "BLOCK_ROWS", 4)  # and read back in blocks of a few rows
    monkeypatch.setattr(normalize, "STATISTICS_ROWS", 5)
    on_disk = timeline_of_samples(predictor, samples, RATE, settings)
    assert len(X) > max(3 * 5, normalize.SHRINK_BELOW) and len(files) == 1 and files[0].closed
    assert on_disk == in_memory
    assert [(s.start, s.end, s.emotion) for s in on_disk] == [(s.start, s.end, s.emotion) for s in expected]
    for got, want in zip(on_disk, expected):
        assert got.confidence == pytest.approx(want.confidence, abs=1e-6)


def test_windows_with_no_writable_temporary_folder_are_that_recording_failure(bundle, speech16k, tmp_path, monkeypatch):
    samples, _ = recording(speech16k)
    path = tmp_path / "long.wav"
    sf.write(path, samples, RATE)
    monkeypatch.setattr(runtime, "SPOOL_BYTES", 1)  # the windows go to a file at once
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))  # a temporary folder that does not exist
    failed = ser.load(str(bundle)).timeline(path)
    assert isinstance(failed, Failure) and failed.file == str(path)
    assert "TMPDIR" in failed.reason
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert isinstance(ser.load(str(bundle)).timeline(path), Timeline)


def test_segments_of_a_recording_lie_in_its_speech(bundle, speech16k):
    samples, spans = recording(speech16k)
    predictor = ser.load(str(bundle))
    found = timeline_of_samples(predictor, samples, RATE, TimelineParams())
    assert found
    for segment in found:
        assert any(a - SLACK <= segment.start < segment.end <= b + SLACK for a, b in spans)
        assert segment.emotion in predictor.classes + [UNCERTAIN]
        assert sum(segment.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert segment.confidence == pytest.approx(max(segment.probabilities.values()), abs=0.2)
    assert [s.start for s in found] == sorted(s.start for s in found)


def test_the_api_gives_a_timeline_or_the_failure_ser_predict_gives(bundle, speech16k, tmp_path):
    samples, _ = recording(speech16k)
    path = tmp_path / "call.flac"
    sf.write(path, samples, RATE)
    predictor = ser.load(str(bundle))
    result = predictor.timeline(path)
    assert isinstance(result, Timeline)
    assert result.duration == pytest.approx(len(samples) / RATE)
    assert result.segments == timeline_of_samples(predictor, samples, RATE, TimelineParams())
    assert json.loads(json.dumps(result.as_dict()))["segments"][0].keys() == {
        "start",
        "end",
        "emotion",
        "confidence",
        "probabilities",
    }
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    failure = predictor.timeline(broken)
    assert isinstance(failure, Failure)
    assert failure == predictor.predict([broken])[0]
    tone_file = write_tone(tmp_path / "tone.wav", seconds=3.0)
    assert predictor.timeline(tone_file) == Timeline(str(tone_file), 3.0, [])


def test_blocks_decode_to_the_same_samples_as_a_whole_file(tmp_path):
    rng = np.random.default_rng(1)
    stereo = (0.1 * rng.standard_normal((44100 * 5 + 17, 2))).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44100)
    blocks = list(decode_blocks(path, RATE, block_seconds=0.7))
    assert len(blocks) > 5
    whole = load_audio(path, RATE)
    joined = np.concatenate(blocks)
    assert abs(len(joined) - len(whole)) <= 2
    n = min(len(joined), len(whole))
    assert np.abs(joined[:n] - whole[:n]).max() < 1e-3


def test_a_long_recording_is_read_in_blocks_and_bounded(bundle, tmp_path):
    path = write_long_flac(tmp_path / "hour.flac", seconds=3600)
    predictor = ser.load(str(bundle))
    result = predictor.timeline(path)
    assert isinstance(result, Timeline) and result.duration == pytest.approx(3600) and result.segments == []
    refused = predictor.timeline(path, TimelineParams(max_seconds=600))
    assert isinstance(refused, Failure) and refused.reason.startswith("is longer than the 600 s limit")


def run_ser(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SER, *args], capture_output=True, text=True, timeout=300)


def failed_files(run: subprocess.CompletedProcess) -> list[str]:
    """The files a `ser` run names as failed, one ``error: <path> <reason>`` line each, in the order printed."""
    return [line.split(" ")[1] for line in run.stderr.splitlines() if line.startswith("error: /")]


@pytest.fixture(scope="module")
def folder(speech16k, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recordings")
    samples, _ = recording(speech16k)
    sf.write(root / "a_call.wav", samples, RATE)
    sf.write(root / "b_call.flac", samples[: len(samples) // 2], RATE)
    write_tone(root / "c_tone.wav", seconds=4.0)
    (root / "d_broken.wav").write_bytes(b"RIFF not really")
    return root


def test_ser_timeline_csv_json_and_table_agree_and_a_broken_file_fails_alone(bundle, folder):
    runs = {
        form: run_ser("timeline", str(folder), "--model", str(bundle), "--format", form)
        for form in ("csv", "json", "table")
    }
    for run in runs.values():
        assert run.returncode == 1
        assert failed_files(run) == [str(folder / "d_broken.wav")]
    rows = list(csv.reader(io.StringIO(runs["csv"].stdout)))
    assert rows[0][:5] == ["file", "start", "end", "emotion", "confidence"]
    assert {row[0] for row in rows[1:]} == {str(folder / "a_call.wav"), str(folder / "b_call.flac")}
    table = [line.split("\t") for line in runs["table"].stdout.splitlines()]
    assert table == rows
    timelines = [json.loads(line) for line in runs["json"].stdout.splitlines()]
    assert [t["file"] for t in timelines] == [str(folder / n) for n in ("a_call.wav", "b_call.flac", "c_tone.wav")]
    assert timelines[2]["segments"] == [] and timelines[2]["duration"] == 4.0
    from_json = [
        [t["file"], f"{s['start']:.2f}", f"{s['end']:.2f}", s["emotion"], f"{s['confidence']:.3f}"]
        for t in timelines
        for s in t["segments"]
    ]
    assert from_json == [row[:5] for row in rows[1:]]


def test_ser_timeline_exit_codes(bundle, folder):
    good = run_ser("timeline", str(folder / "a_call.wav"), "--model", str(bundle), "--format", "json")
    assert good.returncode == 0 and len(good.stdout.splitlines()) == 1
    assert run_ser("timeline", str(folder / "a_call.wav"), "--model", str(folder / "none")).returncode == 2
    assert run_ser("timeline", "--format", "xml", str(folder)).returncode == 2
    short = run_ser("timeline", str(folder / "a_call.wav"), "--model", str(bundle), "--max-seconds", "3")
    assert short.returncode == 1 and "is longer than the 3 s limit" in short.stderr


@pytest.fixture(scope="module")
def non_speech_files(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("non_speech")
    for name, samples in non_speech().items():
        sf.write(root / f"{name.replace(' ', '_')}.wav", samples, RATE)
    return sorted(root.iterdir())


def test_ser_timeline_on_noise_a_tone_or_music_gives_no_emotion_segment_and_refuses_silence(bundle, non_speech_files):
    run = run_ser("timeline", *map(str, non_speech_files), "--model", str(bundle), "--format", "json")
    assert run.returncode == 1
    silence = next(path for path in non_speech_files if path.stem == "silence")  # below -80 dBFS, as ser predict
    assert failed_files(run) == [str(silence)]
    timelines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [t["file"] for t in timelines] == [str(path) for path in non_speech_files if path != silence]
    assert all(s["emotion"] == UNCERTAIN for t in timelines for s in t["segments"])


def test_ser_predict_on_silence_noise_a_tone_or_music_says_no_speech(bundle, folder, non_speech_files):
    files = [*map(str, non_speech_files), str(folder / "a_call.wav")]
    run = run_ser("predict", *files, "--model", str(bundle), "--format", "json")
    assert run.returncode == 1
    assert [json.loads(line)["file"] for line in run.stdout.splitlines()] == [str(folder / "a_call.wav")]
    assert sorted(failed_files(run)) == [str(path) for path in non_speech_files]
    for path in non_speech_files:
        if path.stem != "silence":  # below -80 dBFS: refused as silent before speech is looked for
            assert str(Failure(str(path), NO_SPEECH)) in run.stderr


def test_a_progress_bar_counts_audio_seconds_on_a_terminal_only(bundle, folder):
    files = [str(folder / "a_call.wav"), str(folder / "b_call.flac")]
    total = round(sum(sf.info(f).duration for f in files))
    pipe = run_ser("timeline", "--model", str(bundle), "--format", "csv", *files)
    assert pipe.returncode == 0 and pipe.stderr == ""
    code, stdout, terminal = run_with_stderr_on_a_terminal(
        SER + ["timeline", "--model", str(bundle), "--format", "csv", *files]
    )
    assert code == 0 and "timeline:" in terminal and f"0/{total} " in terminal and stdout == pipe.stdout
    code, stdout, terminal = run_with_stderr_on_a_terminal(
        SER + ["timeline", "--quiet", "--model", str(bundle), "--format", "csv", *files]
    )
    assert code == 0 and terminal == "" and stdout == pipe.stdout
