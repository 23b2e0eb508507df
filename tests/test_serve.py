"""`ser serve` through a real uvicorn process on 127.0.0.1: the API against `ser predict`, bad input, size limit."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from ser.inference.bundle import INFO_FILE
from tests.audiofiles import bad_audio_files, write_long_flac
from tests.bundles import train_bundle
from tests.servers import ServeProcess

# Real speech of actors the test bundles never trained on (they know actors 01-04): two of actor 05, one of 06.
FILES = ("Actor_05/03-01-05-02-01-01-05.wav", "Actor_05/03-01-01-01-02-02-05.wav", "Actor_06/03-01-08-02-02-01-06.wav")
LIMIT_MB = 1.0  # the servers' body limit here; a real file is about 0.1 MB


@pytest.fixture(scope="module")
def bundles(speech16k, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    return {
        normalize: train_bundle(speech16k, root / normalize, normalize=normalize) for normalize in ("none", "speaker")
    }


@pytest.fixture(scope="module")
def servers(bundles):
    """One running server per bundle, each with a 1 MB body limit."""
    running = {}
    try:
        for normalize, bundle in bundles.items():
            running[normalize] = ServeProcess(bundle, "--max-upload-mb", str(LIMIT_MB), "--allow-host", "ser.test")
        yield running
    finally:
        for server in running.values():
            assert server.stop() == 0, "".join(server.lines)


def post(url: str, paths: list[Path], names: list[str] | None = None, **fields) -> requests.Response:
    names = names or [p.name for p in paths]
    parts = [("file", (name, p.read_bytes(), "audio/wav")) for name, p in zip(names, paths)]
    return requests.post(f"{url}/predict", files=parts, data=fields, timeout=60)


def ser_predict(bundle: Path, paths: list[Path], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ser", "predict", "--model", str(bundle), "--format", "json", *args, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def predicted(bundle: Path, paths: list[Path], *args: str) -> list[dict]:
    run = ser_predict(bundle, paths, *args)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def assert_same(served: list[dict], printed: list[dict]) -> None:
    """The server's predictions are ser predict's: same files in order, emotions, probabilities to 1e-6."""
    assert [p["file"] for p in served] == [Path(p["file"]).name for p in printed]
    assert [p["emotion"] for p in served] == [p["emotion"] for p in printed]
    for mine, theirs in zip(served, printed):
        assert list(mine["probabilities"]) == list(theirs["probabilities"])
        np.testing.assert_allclose(
            list(mine["probabilities"].values()), list(theirs["probabilities"].values()), atol=1e-6
        )


def test_predictions_equal_ser_predicts(servers, bundles, speech16k):
    paths = [speech16k / name for name in FILES]
    response = post(servers["none"].url, paths)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["predictions"] and all(
        set(p) == {"file", "emotion", "probabilities"} for p in body["predictions"]
    )
    assert_same(body["predictions"], predicted(bundles["none"], paths))
    reordered = post(servers["none"].url, paths[::-1]).json()["predictions"]
    assert reordered == body["predictions"][::-1]


def test_speaker_normalisation_is_ser_predicts_for_the_files_of_one_request(servers, bundles, speech16k, tmp_path):
    url, bundle = servers["speaker"].url, bundles["speaker"]
    paths = [speech16k / name for name in FILES]
    by_name = post(url, paths).json()["predictions"]  # speakers 05, 05, 06 read from the names
    assert_same(by_name, predicted(bundle, paths))
    one_speaker = post(url, paths, speaker="07").json()["predictions"]
    assert_same(one_speaker, predicted(bundle, paths, "--speaker", "07"))
    anonymous = []
    for i, path in enumerate(paths):  # names with no speaker id: each file is a speaker of its own
        anonymous.append(tmp_path / f"take{i}.wav")
        shutil.copyfile(path, anonymous[-1])
    each_alone = post(url, anonymous).json()["predictions"]
    assert_same(each_alone, predicted(bundle, anonymous))
    # the grouping changes the numbers, so the comparisons above could fail
    assert not np.allclose(
        list(one_speaker[0]["probabilities"].values()), list(each_alone[0]["probabilities"].values()), atol=1e-6
    )
    assert any("fewer than 10 recordings of speaker(s) 05, 06" in line for line in servers["speaker"].lines)


def test_file_names_with_folders_are_echoed_but_never_followed(servers, speech16k, tmp_path):
    path = speech16k / FILES[0]
    names = [f"../../{tmp_path.name}-escape/{path.name}", "..", ""]
    response = post(servers["none"].url, [path] * len(names), names=names)
    assert response.status_code == 200, response.text
    plain = post(servers["none"].url, [path]).json()["predictions"][0]
    answers = response.json()["predictions"]
    assert [a["file"] for a in answers] == names[:2] + ["part 3"]  # a part without a file name is numbered
    for answer in answers:  # one batch of three rows against one row: equal up to floating-point summation order
        assert answer["emotion"] == plain["emotion"]
        np.testing.assert_allclose(
            list(answer["probabilities"].values()), list(plain["probabilities"].values()), rtol=1e-9
        )
    assert not list(Path(tempfile.gettempdir()).glob(f"*{tmp_path.name}*"))


def test_concurrent_requests_get_the_same_answers(servers, speech16k):
    paths = [speech16k / name for name in FILES]
    expected = [post(servers["none"].url, [p]).json() for p in paths]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post(servers["none"].url, [paths[i % 3]]).json(), range(24)))
    assert answers == [expected[i % 3] for i in range(24)]


def test_health_and_model(servers, bundles):
    for normalize, server in servers.items():
        health = requests.get(f"{server.url}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        model = requests.get(f"{server.url}/model", timeout=10)
        assert model.status_code == 200
        assert model.json() == json.loads((bundles[normalize] / INFO_FILE).read_text())


def test_each_bad_part_is_refused_alone_naming_it_as_ser_predict_does(servers, bundles, speech16k, tmp_path):
    bad = sorted(bad_audio_files(tmp_path / "bad", speech16k / FILES[0]).values())
    run = ser_predict(bundles["none"], bad, "--max-seconds", "60")  # ser serve's default limit
    reasons = {}  # ser predict's words after the path, for each file
    for line in run.stderr.splitlines()[:-1]:
        for path in bad:
            if line.startswith(f"error: {path} "):
                reasons[path.name] = line.removeprefix(f"error: {path} ")
    assert len(reasons) == len(bad), run.stderr
    good = speech16k / FILES[0]
    for server in servers.values():
        alone = post(server.url, [good]).json()["predictions"]
        for path in bad:
            name = f"upload of {path.name}"
            refused = {"file": name, "status": 422, "error": f"{name} {reasons[path.name]}"}
            response = post(server.url, [good, path], names=[good.name, name])
            assert response.status_code == 200, (path.name, response.text)
            assert response.json()["predictions"] == alone + [refused]  # the good part predicted as if sent alone
            response = post(server.url, [path], names=[name])
            assert response.status_code == 422, (path.name, response.text)
            assert response.json() == {"error": refused["error"], "file": name, "predictions": [refused]}
        assert post(server.url, [good]).status_code == 200  # still serving


@pytest.mark.parametrize(
    "form, complaint",
    [
        ({"data": {"speaker": "05"}}, "file: Field required"),
        ({"data": {"file": "not an upload"}}, "Expected UploadFile"),
        ({"files": [("audio", ("a.wav", b"RIFF", "audio/wav"))]}, "file: Field required"),
    ],
)
def test_a_form_without_file_parts_is_422(servers, form, complaint):
    response = requests.post(f"{servers['none'].url}/predict", timeout=10, **form)
    assert response.status_code == 422
    body = response.json()
    assert body["file"] is None and complaint in body["error"] and "parts named file" in body["error"]


def read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
        data.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]
    ):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


def request_head(framing: str) -> bytes:
    return (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


PART_HEAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'


def test_a_declared_length_over_the_limit_is_413_before_any_body_is_sent(servers):
    with socket.create_connection(("127.0.0.1", servers["none"].port), timeout=30) as sock:
        sock.sendall(request_head("Content-Length: 100000000") + PART_HEAD)  # and nothing more
        status, body = read_response(sock)
    assert status == 413 and body["file"] is None and f"limit of {int(LIMIT_MB * 1e6):,} bytes" in body["error"]
    assert requests.get(f"{servers['none'].url}/health", timeout=10).status_code == 200


def test_a_chunked_body_is_refused_at_the_limit_not_read_to_its_end(servers, speech16k):
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", servers["none"].port), timeout=30) as sock:
        sock.sendall(request_head("Transfer-Encoding: chunked") + b"%x\r\n%s\r\n" % (len(PART_HEAD), PART_HEAD))
        sock.settimeout(0.2)
        while sent < 100 * LIMIT_MB * 1e6:  # a body of 100 MB, unless the server answers first
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                pass
        sock.settimeout(30)
        status, body = read_response(sock)
    assert status == 413 and "limit" in body["error"]
    assert sent < 10 * LIMIT_MB * 1e6  # answered near the limit, not after the whole body
    assert post(servers["none"].url, [speech16k / FILES[0]]).status_code == 200


def test_the_page_and_its_script_come_from_the_server_alone(servers):
    url = servers["none"].url
    page = requests.get(f"{url}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"[a-z]+://", page.text)  # no address elsewhere: nothing loads from another host
    assert re.findall(r'(?:src|href)="([^"]*)"', page.text) == ["data:,"]  # the one link: an empty favicon
    assert 'addModule("recorder.js")' in page.text
    script = requests.get(f"{url}/recorder.js", timeout=10)
    assert script.status_code == 200 and "registerProcessor" in script.text
    schema = requests.get(f"{url}/openapi.json", timeout=10).json()
    assert {"/predict", "/health", "/model"} <= set(schema["paths"])
    assert requests.get(f"{url}/docs", timeout=10).status_code == 404  # FastAPI's page would load a CDN's scripts


@pytest.mark.parametrize("command", ["serve", "predict"])
def test_a_bundle_that_lost_its_model_hash_is_refused(bundles, speech16k, tmp_path, command):
    copy = tmp_path / "model"
    shutil.copytree(bundles["none"], copy)
    info = json.loads((copy / INFO_FILE).read_text())
    del info["model_sha256"]
    (copy / INFO_FILE).write_text(json.dumps(info))
    args = ["--port", "0"] if command == "serve" else [str(speech16k / FILES[0])]
    run = subprocess.run(
        [sys.executable, "-m", "ser", command, "--model", str(copy), *args], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == (
        f"error: {copy / INFO_FILE} lacks the SHA-256 of model.skops (model_sha256); refusing to "
        "load an unverifiable model: re-run dvc repro or copy the bundle again\n"
    )


def test_only_addresses_localhost_and_allowed_names_are_answered(servers):
    url, port = servers["none"].url, servers["none"].port
    for host, status in (
        (f"127.0.0.1:{port}", 200),
        (f"localhost:{port}", 200),
        (f"[::1]:{port}", 200),
        (f"ser.test:{port}", 200),
        (f"SER.test.:{port}", 200),
        (f"rebind.example:{port}", 421),
        ("127.0.0.1.rebind.example", 421),
    ):
        response = requests.get(f"{url}/model", headers={"Host": host}, timeout=10)
        assert response.status_code == status, (host, response.text)
    body = requests.get(f"{url}/model", headers={"Host": f"rebind.example:{port}"}, timeout=10).json()
    assert body == {
        "error": f"this server does not answer to the name 'rebind.example:{port}'; use its address, "
        "or start ser serve with --allow-host NAME",
        "file": None,
    }


def test_a_post_from_another_sites_page_is_403_and_the_servers_own_page_may_post(servers, speech16k):
    url, good = servers["none"].url, speech16k / FILES[0]
    parts = [("file", (good.name, good.read_bytes(), "audio/wav"))]
    for origin, status in (
        ("http://evil.example", 403),
        ("null", 403),
        (url.replace("127.0.0.1", "localhost"), 403),
        (url, 200),
    ):
        response = requests.post(f"{url}/predict", files=parts, headers={"Origin": origin}, timeout=60)
        assert response.status_code == status, (origin, response.text)
    assert (
        "may not post to this server"
        in requests.post(f"{url}/predict", files=parts, timeout=60, headers={"Origin": "http://evil.example"}).json()[
            "error"
        ]
    )


@pytest.fixture(scope="module")
def guarded(bundles):
    """A server with a short body timeout and few connections."""
    server = ServeProcess(bundles["none"], "--body-timeout", "3", "--max-connections", "4")
    yield server
    assert server.stop() == 0, "".join(server.lines)


def test_a_body_not_sent_in_time_is_408_while_health_answers(guarded, speech16k):
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=30) as sock:
        sock.sendall(request_head("Content-Length: 100000") + PART_HEAD + b"RIFF")  # then nothing more
        assert requests.get(f"{guarded.url}/health", timeout=2).status_code == 200
        status, body = read_response(sock)
    assert status == 408 and "did not arrive within 3 s" in body["error"] and "--body-timeout" in body["error"]
    assert post(guarded.url, [speech16k / FILES[0]]).status_code == 200


def test_connections_past_the_cap_get_503_and_the_server_recovers(guarded, speech16k):
    held = []  # a request arriving while 4 others are in progress: 503
    try:
        for _ in range(4):  # each holds the server with a body it never finishes
            held.append(socket.create_connection(("127.0.0.1", guarded.port), timeout=30))
            held[-1].sendall(request_head("Content-Length: 100000") + PART_HEAD)
            time.sleep(0.2)
        assert requests.get(f"{guarded.url}/health", timeout=10).status_code == 503
    finally:
        for sock in held:
            sock.close()
    assert post(guarded.url, [speech16k / FILES[0]]).status_code == 200


def test_concurrent_long_uploads_are_refused_from_their_headers_and_their_good_parts_predicted(
    servers, speech16k, tmp_path
):
    long = write_long_flac(tmp_path / "hour.flac", 3600)  # about 100 kB, past ser serve's 60 s
    good, url = speech16k / FILES[0], servers["none"].url
    alone = post(url, [good]).json()["predictions"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(url, [long, good]), range(8)))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert (
            answer.json()["predictions"]
            == [
                {
                    "file": "hour.flac",
                    "status": 422,
                    "error": "hour.flac is longer than the 60 s limit (3,600.0 s): "
                    "split it into shorter recordings, or raise --max-seconds",
                }
            ]
            + alone
        )
