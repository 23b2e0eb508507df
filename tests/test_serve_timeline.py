"""POST /timeline of `ser serve` through a real server process: the answers `ser timeline --format json` prints,
bad parts refused alone, and the request's bound on audio (--max-timeline-seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.audiofiles import bad_audio_files, write_conversation, write_long_flac, write_tone
from tests.bundles import train_bundle
from tests.servers import ServeProcess

# Synthetic speech of speakers the bundle never trained on (it knows 01-04)
CLIPS = ("Actor_05/03-01-01-01-01-01-05.wav", "Actor_05/03-01-05-02-01-01-05.wav", "Actor_06/03-01-08-02-02-01-06.wav")
LIMIT = 40  # the server's --max-timeline-seconds here


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model", normalize="speaker")


@pytest.fixture(scope="module")
def server(bundle):
    server = ServeProcess(bundle, "--max-timeline-seconds", str(LIMIT))
    yield server
    assert server.stop() == 0, "".join(server.lines)


@pytest.fixture(scope="module")
def recordings(speech16k, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recordings")
    return {
        "call": _written(root / "call.wav", [speech16k / name for name in CLIPS]),
        "short": _written(root / "short.wav", [speech16k / CLIPS[1]]),
        "tone": write_tone(root / "tone.wav", seconds=3.0),
    }


def _written(path: Path, clips: list[Path]) -> Path:
    write_conversation(path, clips, gap=2.0)
    return path


def post(url: str, paths: list[Path], names: list[str] | None = None) -> requests.Response:
    names = names or [p.name for p in paths]
    parts = [("file", (name, p.read_bytes(), "audio/wav")) for name, p in zip(names, paths)]
    return requests.post(f"{url}/timeline", files=parts, timeout=120)


def ser_timeline(bundle: Path, paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ser", "timeline", "--model", str(bundle), "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_timelines_are_ser_timelines_in_the_order_sent(server, bundle, recordings):
    paths = [recordings["call"], recordings["tone"], recordings["short"]]
    response = post(server.url, paths)
    assert response.status_code == 200, response.text
    served = response.json()["timelines"]
    run = ser_timeline(bundle, paths)
    assert run.returncode == 0, run.stderr
    printed = [json.loads(line) for line in run.stdout.splitlines()]
    assert served == [{**timeline, "file": Path(timeline["file"]).name} for timeline in printed]
    assert served[0]["segments"] and served[1] == {"file": "tone.wav", "duration": 3.0, "segments": []}
    assert set(served[0]["segments"][0]) == {"start", "end", "emotion", "confidence", "probabilities"}


def test_each_bad_part_is_refused_alone_as_ser_timeline_words_it(server, bundle, recordings, speech16k, tmp_path):
    bad = bad_audio_files(tmp_path / "bad", speech16k / CLIPS[0])
    # the kinds ser timeline refuses: a clip shorter than a frame is a timeline without speech, "too long" is below
    kinds = [kind for kind in bad if kind not in ("too long", "shorter than a frame")]
    run = ser_timeline(bundle, [bad[kind] for kind in kinds])
    reasons = {}
    for line in run.stderr.splitlines()[:-1]:
        for kind in kinds:
            if line.startswith(f"error: {bad[kind]} "):
                reasons[kind] = line.removeprefix(f"error: {bad[kind]} ")
    assert set(reasons) == set(kinds), run.stderr
    good = post(server.url, [recordings["short"]]).json()["timelines"]
    for kind in kinds:
        name = f"upload of {bad[kind].name}"
        refused = {"file": name, "status": 422, "error": f"{name} {reasons[kind]}"}
        response = post(server.url, [recordings["short"], bad[kind]], names=["short.wav", name])
        assert response.status_code == 200, (kind, response.text)
        assert response.json()["timelines"] == good + [refused]
        alone = post(server.url, [bad[kind]], names=[name])
        assert alone.status_code == 422, (kind, alone.text)
        assert alone.json() == {"error": refused["error"], "file": name, "timelines": [refused]}


def test_a_request_holds_at_most_max_timeline_seconds_of_audio(server, recordings, tmp_path):
    hour = write_long_flac(tmp_path / "hour.flac", 3600)  # about 100 kB
    call = recordings["call"]
    answer = post(server.url, [hour, call])
    assert answer.status_code == 200, answer.text
    refused, labelled = answer.json()["timelines"]
    assert refused == {
        "file": "hour.flac",
        "status": 422,
        "error": f"hour.flac is longer than the {LIMIT} s this server takes in one request (3,600.0 s): split it "
        "into shorter recordings, or start ser serve with a larger --max-timeline-seconds",
    }
    assert labelled["file"] == "call.wav" and labelled["segments"]
    over = post(server.url, [call, call, call]).json()["timelines"]  # about 19 s each
    assert [part.get("status") for part in over] == [None, None, 422]
    assert over[2]["error"].startswith(f"call.wav would take this request past its {LIMIT} s of audio")
    assert over[2]["error"].endswith("start ser serve with a larger --max-timeline-seconds")
    assert post(server.url, [call]).status_code == 200  # still serving


def test_a_form_without_file_parts_is_422_naming_the_endpoint(server):
    response = requests.post(f"{server.url}/timeline", data={"speaker": "05"}, timeout=10)
    assert response.status_code == 422
    body = response.json()
    assert body["file"] is None and "POST /timeline" in body["error"] and "parts named file" in body["error"]


def test_speaker_turns_name_each_segments_speaker_as_ser_timeline_does(server, bundle, speech16k, tmp_path):
    path = tmp_path / "talk.wav"
    spans = write_conversation(path, [speech16k / name for name in CLIPS], gap=2.0)
    rttm = tmp_path / "talk.rttm"
    rttm.write_text(
        "".join(f"SPEAKER talk 1 {a:.3f} {b - a:.3f} <NA> <NA> {who} <NA> <NA>\n" for (a, b), who in zip(spans, "ABA"))
    )
    parts = [("file", (path.name, path.read_bytes())), ("speaker_turns", (rttm.name, rttm.read_bytes()))]
    response = requests.post(f"{server.url}/timeline", files=parts, timeout=120)
    assert response.status_code == 200, response.text
    [served] = response.json()["timelines"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser",
            "timeline",
            "--model",
            str(bundle),
            "--format",
            "json",
            "--speaker-turns",
            str(rttm),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert served == {**json.loads(run.stdout), "file": path.name}
    assert {segment["speaker"] for segment in served["segments"]} == {"A", "B"}
    rttm.write_text("SPEAKER talk 1 0.5 <NA> <NA> A <NA> <NA>\n")
    parts[1] = ("speaker_turns", (rttm.name, rttm.read_bytes()))
    refused = requests.post(f"{server.url}/timeline", files=parts, timeout=120)
    assert refused.status_code == 422
    body = refused.json()
    assert body["file"] == "talk.rttm" and body["error"].startswith("talk.rttm line 1")


@pytest.mark.real_speech
def test_real_speech_of_two_actors_gets_segments_within_the_speech(server, ravdess16k, tmp_path):
    clips = (
        sorted((ravdess16k / "Actor_07").glob("*.wav"))[::30] + sorted((ravdess16k / "Actor_08").glob("*.wav"))[::30]
    )
    path = tmp_path / "two_actors.wav"
    spans = write_conversation(path, clips, gap=1.5)
    response = post(server.url, [path])
    assert response.status_code == 200, response.text
    [timeline] = response.json()["timelines"]
    assert timeline["duration"] == pytest.approx(spans[-1][1] + 1.5, abs=0.01)
    assert timeline["segments"]
    for segment in timeline["segments"]:  # within a clip, give or take the detector's padding
        assert any(a - 0.5 <= segment["start"] < segment["end"] <= b + 0.5 for a, b in spans), segment
