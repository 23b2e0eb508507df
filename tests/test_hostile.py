"""Issue 25's hostile input against real processes: files that once sank a whole batch (a GSM 6.10 WAV, float
WAVs far beyond full scale, a header claiming 2 GHz, a folder 1,200 levels deep) in `ser predict`, `POST /predict`
and `dvc exp run`; names holding control characters; connections that send nothing; tiny files of long audio;
error bodies; a two-speaker corpus."""

from __future__ import annotations

import csv
import io
import json
import logging
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import requests
import soundfile as sf

from ser.config import ParamError, TrainParams
from tests.audiofiles import (
    GOOD_RAVDESS,
    copy_good_files,
    deep_folder,
    remove_tree,
    write_ghz_wav,
    write_gsm_wav,
    write_long_flac,
    write_loud_wav,
)
from tests.bundles import train_bundle
from tests.dvcrepo import DvcRepo
from tests.servers import ServeProcess

REFUSED = ("loud.wav", "loud38.wav", "ghz.wav")  # refused at decoding, each with its own reason
DECODED = ("gsm.wav", "deep.wav")  # a non-seekable format and a file 1,200 folders deep: predicted


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model")


@pytest.fixture(scope="module")
def batch(speech16k, tmp_path_factory) -> dict[str, Path]:
    """Two good files, the hostile ones, and a good file (of a third speaker) 1,200 folders deep, by file name."""
    folder = tmp_path_factory.mktemp("batch")
    good = copy_good_files(speech16k, folder / "good")[:2]
    deep = deep_folder(folder / "deep", 1200) / "deep.wav"
    shutil.copyfile(speech16k / "Actor_03/03-01-02-01-01-01-03.wav", deep)
    files = [
        *good,
        write_gsm_wav(folder / "gsm.wav", speech16k / "Actor_03/03-01-05-01-01-01-03.wav"),
        write_loud_wav(folder / "loud.wav", 1e20),
        write_loud_wav(folder / "loud38.wav", 3e38),
        write_ghz_wav(folder / "ghz.wav"),
        deep,
    ]
    yield {path.name: path for path in files}
    remove_tree(folder / "deep")


def ser_predict(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ser", "predict", "--model", str(bundle), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_predict_keeps_every_good_file_and_gives_one_line_per_hostile_one(bundle, batch):
    paths = [str(path) for name, path in batch.items() if name != "deep.wav"]
    run = ser_predict(bundle, "--format", "json", *paths, str(batch["deep.wav"].parents[1200]))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted(Path(row["file"]).name for row in rows) == sorted([*list(batch)[:2], *DECODED])
    failures = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(failures) == len(REFUSED) + 1
    assert all(line.startswith(f"error: {batch[name]} ") for line, name in zip(failures, REFUSED))
    assert "far beyond full scale" in failures[0] and "2,000,000,000 Hz" in failures[2]
    assert failures[-1].startswith("error: 3 path(s) could not be predicted")


def test_one_post_of_the_batch_is_200_with_a_result_per_part(bundle, batch):
    server = ServeProcess(bundle)
    try:
        parts = [("file", (name, path.read_bytes(), "audio/wav")) for name, path in batch.items()]
        response = requests.post(f"{server.url}/predict", files=parts, timeout=120)
    finally:
        assert server.stop() == 0, "".join(server.lines)
    assert response.status_code == 200
    results = {part["file"]: part for part in response.json()["predictions"]}
    assert list(results) == list(batch)
    assert {name for name, part in results.items() if part.get("status") == 422} == set(REFUSED)
    assert all(set(results[name]) == {"file", "emotion", "probabilities"} for name in [*list(batch)[:2], *DECODED])


def test_dvc_exp_run_rejects_the_hostile_files_and_featurises_the_rest(speech16k, batch, tmp_path, request):
    corpus = tmp_path / "corpus"
    copy_good_files(speech16k, corpus)
    named = {}  # RAVDESS names of a selected emotion (neutral), so each file's audio is checked
    for actor, name in enumerate(("gsm.wav", *REFUSED, "deep.wav"), start=20):
        target = corpus / f"Actor_{actor}" / f"03-01-01-01-01-01-{actor}.wav"
        if name == "deep.wav":
            target = deep_folder(corpus / "deep", 1200) / target.name
            request.addfinalizer(lambda: remove_tree(corpus / "deep"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(batch[name], target)
        named[target.name] = name
    (tmp_path / "repo").mkdir()
    repo = DvcRepo(tmp_path / "repo")
    repo.set_params(
        data={"source": str(corpus), "emotions": ["neutral", "calm"]},
        features={"families": ["mfcc"], "stats": ["mean"]},
    )
    repo.commit("corpus")
    repo.dvc("exp", "run", "features")
    featurised = pd.read_parquet(repo.root / "data/features.parquet", columns=["path"])["path"].map(
        lambda path: Path(path).name
    )
    assert sorted(featurised) == sorted(
        [Path(name).name for name in GOOD_RAVDESS] + [n for n, name in named.items() if name in DECODED]
    )
    rejected = pd.read_csv(repo.root / "data/rejected.csv", dtype=str)
    assert sorted(named[Path(path).name] for path in rejected["path"]) == sorted(REFUSED)


def test_a_control_character_in_a_name_never_starts_a_line(bundle, speech16k, tmp_path):
    forged = tmp_path / "x\nerror: 0 path(s) could not be predicted\x1b[2K\r.wav"
    shutil.copyfile(speech16k / GOOD_RAVDESS[0], forged)
    empty = tmp_path / "y\nINFO: forged.wav"
    empty.write_bytes(b"")
    for fmt in ("table", "csv", "json"):
        run = ser_predict(bundle, "--format", fmt, str(forged), str(empty))
        assert run.returncode == 1
        assert len(run.stdout.splitlines()) == (1 if fmt == "json" else 2)
        assert not any(line.startswith(("error: 0", "INFO")) for line in run.stderr.splitlines())
        assert "\x1b" not in run.stdout + run.stderr and "\r" not in run.stdout + run.stderr
        assert len(run.stderr.splitlines()) == 2  # the empty file's line and the summary
        if fmt == "csv":
            assert list(csv.reader(io.StringIO(run.stdout)))[1][0] == str(forged).encode("unicode_escape").decode()
        if fmt == "json":
            assert json.loads(run.stdout)["file"] == str(forged)  # JSON escapes it losslessly


@pytest.fixture(scope="module")
def server(bundle):
    server = ServeProcess(bundle, "--header-timeout", "2", "--max-seconds", "120", "--max-request-seconds", "3")
    yield server
    assert server.stop() == 0, "".join(server.lines)


def test_silent_and_trickling_connections_do_not_hold_the_server_and_are_closed(server):
    silent = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(200)]
    stop, cut = threading.Event(), []

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            for byte in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 100:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    cut.append(byte)
                    return
                if stop.wait(0.5):
                    return

    threads = [threading.Thread(target=trickle) for _ in range(64)]
    try:
        for thread in threads:
            thread.start()
        assert [requests.get(f"{server.url}/health", timeout=10).status_code for _ in range(5)] == [200] * 5
        deadline, closed = time.monotonic() + 20, set()
        while len(closed) < len(silent) and time.monotonic() < deadline:
            readable, _, _ = select.select([s for s in silent if s not in closed], [], [], 1.0)
            closed.update(s for s in readable if not s.recv(1))
        assert len(closed) == len(silent)  # every silent connection closed by the server
        time.sleep(3)
        assert len(cut) == len(threads)  # and every trickling one
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for sock in silent:
            sock.close()
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200


def test_parts_past_the_request_audio_budget_are_refused_each(server, speech16k, tmp_path):
    good = speech16k / GOOD_RAVDESS[0]  # about 1.5 s each: the third passes the 3 s budget
    long = write_long_flac(tmp_path / "long.flac", 100)  # under --max-seconds 120, over the budget alone
    parts = [("file", (f"{i}-{good.name}", good.read_bytes(), "audio/wav")) for i in range(3)]
    parts.append(("file", ("long.flac", long.read_bytes(), "audio/flac")))
    response = requests.post(f"{server.url}/predict", files=parts, timeout=60)
    assert response.status_code == 200
    statuses = [part.get("status", 200) for part in response.json()["predictions"]]
    fit = min(3, int(3 // sf.info(good).duration))
    assert 0 < fit < 3 and statuses == [200] * fit + [422] * (3 - fit) + [422]
    assert "--max-request-seconds" in response.json()["predictions"][-1]["error"]


def test_a_request_that_cannot_start_in_time_gets_503_with_retry_after(bundle, speech16k, tmp_path):
    flac = write_long_flac(tmp_path / "long.flac", 110)  # a tenth of a second of work each, with this bundle
    server = ServeProcess(
        bundle, "--queue-timeout", "0.2", "--max-seconds", "120", "--max-request-seconds", "10000", affinity={0}
    )  # one core: one prediction worker
    try:
        with ThreadPoolExecutor(2) as pool:
            busy = pool.submit(
                requests.post,
                f"{server.url}/predict",
                timeout=300,
                files=[("file", ("long.flac", flac.read_bytes(), "audio/flac"))] * 200,
            )
            time.sleep(0.5)
            good = speech16k / GOOD_RAVDESS[0]
            refused = requests.post(
                f"{server.url}/predict", files=[("file", (good.name, good.read_bytes()))], timeout=60
            )
            held = busy.result()  # a constant signal: each part decoded, then refused as "no speech found"
            assert held.status_code in (200, 422) and len(held.json()["predictions"]) == 200
    finally:
        assert server.stop() == 0, "".join(server.lines)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert set(refused.json()) == {"error", "file"} and "--queue-timeout" in refused.json()["error"]


def test_every_error_is_one_json_shape_and_the_page_has_security_headers(server, speech16k):
    good = speech16k / GOOD_RAVDESS[0]
    answers = [
        requests.get(f"{server.url}/nowhere", timeout=10),
        requests.post(f"{server.url}/health", timeout=10),
        requests.post(f"{server.url}/predict", files=[("file", ("a.wav", b"x"))] * 1001, timeout=60),
        requests.post(f"{server.url}/predict", files=[("file", ("n" * 8000 + ".wav", good.read_bytes()))], timeout=60),
        requests.post(f"{server.url}/predict", data={"speaker": "01"}, timeout=10),
    ]
    for response in answers:
        assert response.status_code >= 400 and set(response.json()) == {"error", "file"}, response.text
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = requests.get(server.url, timeout=10)
    assert (
        page.headers["X-Frame-Options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    )


def test_names_and_speakers_with_line_breaks_cannot_forge_log_lines(speech16k, tmp_path):
    good = speech16k / GOOD_RAVDESS[0]
    forged = 'INFO:     127.0.0.1:1 - "GET /admin HTTP/1.1" 200 OK'
    server = ServeProcess(train_bundle(speech16k, tmp_path / "model", normalize="speaker"))  # warns of speakers
    try:
        requests.post(
            f"{server.url}/predict",
            data={"speaker": f"x\n{forged}"},
            timeout=60,
            files=[("file", (f"a\n{forged}.wav", good.read_bytes()))],
        )
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\n'
            + forged.replace('"', "'").encode()
            + b'.wav"\r\n\r\n'
            + good.read_bytes()
            + b"\r\n--b--\r\n"
        )  # a bare line feed in the name
        requests.post(
            f"{server.url}/predict", data=body, headers={"Content-Type": "multipart/form-data; boundary=b"}, timeout=60
        ).raise_for_status()
    finally:
        assert server.stop() == 0, "".join(server.lines)
    warnings = [line for line in server.lines if "WARNING" in line]
    assert len(warnings) == 2 and f"x\\n{forged}" in warnings[0] and "a\\nINFO" in warnings[1], warnings
    assert not any(line.startswith(forged) for line in server.lines)


def test_the_access_log_escapes_a_request_path_with_a_line_break():
    from uvicorn.logging import AccessFormatter

    from ser.inference.serve import escape_logs

    escape_logs()
    stream, logger = io.StringIO(), logging.getLogger("uvicorn.access")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    )
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:  # uvicorn's own call, with the path percent-decoded as uvicorn decodes it
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", '/x\nINFO: "GET /admin HTTP/1.1" 200', "1.1", 404)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert stream.getvalue().count("\n") == 1 and "/x\\nINFO" in stream.getvalue()


def test_a_two_speaker_corpus_ends_in_one_line_and_trains_without_calibration(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    for actor in ("01", "02"):
        shutil.copytree(speech16k / f"Actor_{actor}", corpus / f"Actor_{actor}")
    (tmp_path / "repo").mkdir()
    repo = DvcRepo(tmp_path / "repo")
    repo.set_params(
        data={"source": str(corpus), "emotions": ["neutral", "calm"]},
        features={"families": ["mfcc"], "stats": ["mean"]},
        train={"ensemble": 1},
    )
    repo.commit("two speakers")
    run = repo.dvc("exp", "run", "train", check=False)
    assert run.returncode != 0 and "Traceback" not in run.stdout + run.stderr
    errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "train.calibrate=false" in errors[0]
    run = repo.dvc("exp", "run", "-S", "train.calibrate=false", check=False)  # the whole pipeline
    assert "Traceback" not in run.stdout + run.stderr
    assert len(json.loads((repo.root / "data/model/model.json").read_text())["data"]["train_speakers"]) == 1
    errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("error: ")]
    assert run.returncode == 0 or (len(errors) == 1 and "evaluate.cv_folds" in errors[0]), run.stdout + run.stderr


def test_hidden_layer_sizes_are_bounded():
    with pytest.raises(ParamError, match="train.hidden_layer_sizes"):
        TrainParams(hidden_layer_sizes=(100_000_000,))
    assert TrainParams(hidden_layer_sizes=(4096, 64)).hidden_layer_sizes == (4096, 64)
