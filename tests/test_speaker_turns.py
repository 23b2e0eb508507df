"""`ser timeline --speaker-turns FILE.rttm` and `Predictor.timeline(path, speaker_turns=...)` on a generated
two-voice recording: each speaker standardised by their own turns and named in the output; malformed RTTM refused
with its file and line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

import ser
from ser.timeline.runtime import Timeline
from ser.timeline.smoothing import CELL
from ser.timeline.turns import Turn, TurnsError, read_rttm
from tests.audiofiles import write_conversation
from tests.bundles import train_bundle
from tests.conftest import assert_one_line

SER = [sys.executable, "-m", "ser"]
# Two voices the bundle never trained on (it knows 01-04), taking turns: 05, 06, 05, 06
CLIPS = (
    "Actor_05/03-01-01-01-01-01-05.wav",
    "Actor_06/03-01-05-02-01-01-06.wav",
    "Actor_05/03-01-08-02-02-01-05.wav",
    "Actor_06/03-01-01-01-02-02-06.wav",
)
SPEAKERS = ("alice", "bob", "alice", "bob")


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model", normalize="speaker")


@pytest.fixture(scope="module")
def conversation(speech16k, tmp_path_factory) -> tuple[Path, Path, list[tuple[float, float]]]:
    """The two-voice recording, its RTTM (the clips' spans as turns) and the spans."""
    root = tmp_path_factory.mktemp("conversation")
    path = root / "call.wav"
    spans = write_conversation(path, [speech16k / name for name in CLIPS], gap=2.0)
    rttm = root / "call.rttm"
    rttm.write_text(
        ";; who speaks when\n"
        + "".join(
            f"SPEAKER call 1 {a:.3f} {b - a:.3f} <NA> <NA> {who} <NA> <NA>\n" for (a, b), who in zip(spans, SPEAKERS)
        )
    )
    return path, rttm, spans


def run_ser(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SER, *args], capture_output=True, text=True, timeout=300)


def test_each_segment_is_its_speakers_and_lies_in_their_turns(bundle, conversation):
    path, rttm, spans = conversation
    timeline = ser.load(str(bundle)).timeline(path, speaker_turns=rttm)
    assert isinstance(timeline, Timeline) and timeline.segments
    for segment in timeline.segments:
        turns = [span for span, who in zip(spans, SPEAKERS) if who == segment.speaker]
        assert any(a - CELL <= segment.start < segment.end <= b + CELL for a, b in turns), segment  # on the grid
    assert {s.speaker for s in timeline.segments} == {"alice", "bob"}
    assert [s.start for s in timeline.segments] == sorted(s.start for s in timeline.segments)


def test_each_speaker_is_standardised_by_their_own_turns_alone(bundle, conversation, speech16k, tmp_path):
    """Alice's segments are those of a recording with Alice alone (Bob's clips silent), whatever Bob says."""
    path, rttm, spans = conversation
    predictor = ser.load(str(bundle))
    together = predictor.timeline(path, speaker_turns=rttm)
    alone = tmp_path / "call.wav"
    silent_bob = [speech16k / name for name in CLIPS]
    write_conversation(alone, silent_bob, gap=2.0)
    samples, rate = sf.read(alone, dtype="float32")
    for (a, b), who in zip(spans, SPEAKERS):
        if who == "bob":
            samples[round(a * rate) : round(b * rate)] = 0
    sf.write(alone, samples, rate, subtype="PCM_16")
    alice_turns = [Turn(a, b, who) for (a, b), who in zip(spans, SPEAKERS) if who == "alice"]
    by_alice_alone = predictor.timeline(alone, speaker_turns=alice_turns).segments
    alice = [s for s in together.segments if s.speaker == "alice"]
    # equal but for the speech detector, whose state carries over from Bob's speech into the silence after it
    assert by_alice_alone and [s.emotion for s in by_alice_alone] == [s.emotion for s in alice]
    for mine, theirs in zip(by_alice_alone, alice):
        assert (mine.start, mine.end) == pytest.approx((theirs.start, theirs.end), abs=0.1)
        assert mine.confidence == pytest.approx(theirs.confidence, abs=0.02)
    one_speaker = predictor.timeline(path)  # the whole recording standardised as one speaker's: other numbers
    assert all(s.speaker is None for s in one_speaker.segments)
    assert [s.probabilities for s in one_speaker.segments] != [s.probabilities for s in together.segments]


def test_ser_timeline_names_the_speaker_in_every_format(bundle, conversation):
    path, rttm, spans = conversation
    args = ("timeline", str(path), "--model", str(bundle), "--speaker-turns", str(rttm), "--format")
    runs = {form: run_ser(*args, form) for form in ("csv", "json")}
    assert all(run.returncode == 0 for run in runs.values()), runs
    rows = list(csv.reader(io.StringIO(runs["csv"].stdout)))
    assert rows[0][:6] == ["file", "start", "end", "emotion", "confidence", "speaker"]
    [timeline] = [json.loads(line) for line in runs["json"].stdout.splitlines()]
    assert [row[5] for row in rows[1:]] == [s["speaker"] for s in timeline["segments"]]
    assert {row[5] for row in rows[1:]} == {"alice", "bob"}
    plain = run_ser("timeline", str(path), "--model", str(bundle), "--format", "csv")
    assert "speaker" not in plain.stdout.splitlines()[0].split(",")


def test_a_recording_missing_from_the_rttm_fails_alone(bundle, conversation, tmp_path):
    path, rttm, _ = conversation
    other = tmp_path / "other.wav"
    other.write_bytes(path.read_bytes())
    run = run_ser("timeline", str(path), str(other), "--model", str(bundle), "--speaker-turns", str(rttm))
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith(f"error: {other} ")]
    assert len(errors) == 1 and str(rttm) in errors[0] and "call" in errors[0]
    assert {line.split("\t")[0] for line in run.stdout.splitlines()[1:]} == {str(path)}


@pytest.mark.parametrize(
    "line, number",
    [
        ("SPEAKER call 1 0.5 <NA> <NA> alice <NA> <NA>", 2),  # a field missing
        ("SPEAKER call 1 half 2.0 <NA> <NA> alice <NA> <NA>", 2),
        ("SPEAKER call 1 0.5 -2.0 <NA> <NA> alice <NA> <NA>", 2),
        ("SPEAKER call 1 nan 2.0 <NA> <NA> alice <NA> <NA>", 2),
    ],
)
def test_a_malformed_rttm_is_refused_naming_the_file_and_line(bundle, conversation, tmp_path, line, number):
    path, _, _ = conversation
    rttm = tmp_path / "bad.rttm"
    rttm.write_text(f"SPEAKER call 1 3.0 1.0 <NA> <NA> bob <NA> <NA>\n{line}\n")
    with pytest.raises(TurnsError) as error:
        read_rttm(rttm)
    assert_one_line(str(error.value), f"{rttm} line {number}")
    run = run_ser("timeline", str(path), "--model", str(bundle), "--speaker-turns", str(rttm))
    assert run.returncode == 2 and run.stdout == ""
    assert_one_line(run.stderr, f"{rttm} line {number}")


def test_an_rttm_without_speaker_lines_or_unreadable_is_refused(tmp_path):
    empty = tmp_path / "empty.rttm"
    empty.write_text(";; nothing\n\n")
    binary = tmp_path / "binary.rttm"
    binary.write_bytes(b"\xff\xfe\x00bad")
    for path in (empty, binary, tmp_path / "missing.rttm"):
        with pytest.raises(TurnsError) as error:
            read_rttm(path)
        assert_one_line(str(error.value), str(path))
