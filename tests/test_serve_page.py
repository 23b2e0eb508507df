"""The page of `ser serve` in real headless Chromium: uploading a file, recording from a (fake) microphone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import soundfile as sf

from tests.audiofiles import write_conversation
from tests.bundles import complete_bundle, train_bundle
from tests.conftest import require, require_program
from tests.servers import ServeProcess

require("selenium.webdriver")  # the page tests drive Chromium with selenium
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.browsers import chromium, open_page, record  # noqa: E402

# Real speech of actors the bundle never trained on; the recording test plays the one the model is surest of.
CANDIDATES = (
    "Actor_05/03-01-05-02-01-01-05.wav",
    "Actor_05/03-01-01-01-02-02-05.wav",
    "Actor_06/03-01-08-02-02-01-06.wav",
    "Actor_06/03-01-05-02-02-02-06.wav",
)


@pytest.fixture(scope="module", autouse=True)
def browser():
    """Chromium and its driver, which the page tests drive: present before anything is trained."""
    for program in ("chromium", "chromedriver"):
        require_program(program, "apt-get install chromium chromium-driver (Debian)")


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model")


@pytest.fixture(scope="module")
def server(bundle):
    server = ServeProcess(bundle)
    yield server
    assert server.stop() == 0, "".join(server.lines)


def shown(browser) -> list[dict]:
    """Every result on the page: file, emotion, and per bar its class, probability, shown value and width."""
    results = []
    for article in browser.find_elements(By.CSS_SELECTOR, "#results .result"):
        bars = [
            {
                "class": bar.get_attribute("data-class"),
                "p": float(bar.get_attribute("data-p")),
                "text": bar.find_element(By.CSS_SELECTOR, ".value").text,
                "width": bar.find_element(By.CSS_SELECTOR, ".fill").get_attribute("style"),
            }
            for bar in article.find_elements(By.CSS_SELECTOR, ".bar")
        ]
        results.append(
            {
                "file": article.get_attribute("data-file"),
                "emotion": article.get_attribute("data-emotion"),
                "heading": article.find_element(By.CSS_SELECTOR, ".emotion").text,
                "bars": bars,
            }
        )
    return results


def ser_predict(bundle: Path, path: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "ser", "predict", "--model", str(bundle), "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_uploading_a_file_shows_ser_predicts_emotion_and_a_bar_per_class(server, bundle, speech16k, tmp_path):
    path = speech16k / CANDIDATES[0]
    expected = ser_predict(bundle, path)
    browser = chromium(tmp_path / "profile")
    try:
        open_page(browser, server.url)
        browser.find_element(By.ID, "file").send_keys(str(path))
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results .result"))
        [result] = shown(browser)
    finally:
        browser.quit()
    assert (result["file"], result["emotion"], result["heading"]) == (
        path.name,
        expected["emotion"],
        expected["emotion"],
    )
    assert [bar["class"] for bar in result["bars"]] == list(expected["probabilities"])
    for bar in result["bars"]:
        p = expected["probabilities"][bar["class"]]
        width = float(re.fullmatch(r"width: ([\d.]+)%;", bar["width"]).group(1))
        assert abs(bar["p"] - p) < 1e-6 and bar["text"] == f"{p:.3f}" and abs(width - 100 * p) <= 0.05


def test_an_upload_that_is_not_audio_shows_the_servers_reason(server, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio\n")
    answer = requests.post(f"{server.url}/predict", files=[("file", (text.name, text.read_bytes()))], timeout=60)
    browser = chromium(tmp_path / "profile")
    try:
        open_page(browser, server.url)
        browser.find_element(By.ID, "file").send_keys(str(text))
        WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "status").get_attribute("class") == "error")
        status = browser.find_element(By.ID, "status").text
    finally:
        browser.quit()
    assert answer.status_code == 422 and status == answer.json()["error"]


@pytest.mark.real_speech
def test_recording_from_the_microphone_shows_the_emotion_of_what_it_heard(server, bundle, ravdess16k, tmp_path):
    predictions = requests.post(
        f"{server.url}/predict",
        timeout=60,
        files=[("file", (name, (ravdess16k / name).read_bytes())) for name in CANDIDATES],
    ).json()["predictions"]
    predicted = [i for i, part in enumerate(predictions) if "probabilities" in part]  # the detector may miss a shout
    surest = max(predicted, key=lambda i: max(predictions[i]["probabilities"].values()))
    speech, expected = ravdess16k / CANDIDATES[surest], predictions[surest]
    seconds = sf.info(speech).duration
    browser = chromium(tmp_path / "profile", microphone=speech)
    try:
        open_page(browser, server.url)
        record(browser, seconds + 0.5)
        [result] = shown(browser)
        recorded = float(browser.find_element(By.ID, "results").get_attribute("data-recorded-seconds"))
        played = browser.find_elements(By.CSS_SELECTOR, "#results .result audio")
    finally:
        browser.quit()
    assert seconds < recorded < seconds + 5
    assert result["file"] == "recording.wav" and len(played) == 1
    assert result["emotion"] == result["heading"] == expected["emotion"]
    assert [bar["class"] for bar in result["bars"]] == list(expected["probabilities"])
    assert abs(sum(bar["p"] for bar in result["bars"]) - 1) < 1e-6


def bands(browser) -> list[dict]:
    """The timeline view's bands: start, end, emotion, confidence and their left and width in % of the lane."""
    found = []
    for band in browser.find_elements(By.CSS_SELECTOR, "#results .timeline .band"):
        found.append(
            {
                "start": float(band.get_attribute("data-start")),
                "end": float(band.get_attribute("data-end")),
                "emotion": band.get_attribute("data-emotion"),
                "confidence": float(band.get_attribute("data-confidence")),
                "left": percent(band, "left"),
                "width": percent(band, "width"),
                "current": "current" in band.get_attribute("class").split(),
            }
        )
    return found


def percent(element, key: str) -> float:
    return float(re.search(rf"(?:^|; ){key}: ([\d.]+)%", element.get_attribute("style")).group(1))


def test_a_long_recording_shows_its_timeline_with_a_cursor_that_follows_playback(server, speech16k, tmp_path):
    path = tmp_path / "call.wav"
    write_conversation(path, [speech16k / name for name in CANDIDATES], gap=1.5)
    answer = requests.post(f"{server.url}/timeline", files=[("file", (path.name, path.read_bytes()))], timeout=120)
    [expected] = answer.json()["timelines"]
    duration, segments = expected["duration"], expected["segments"]
    assert len(segments) >= 2, expected  # so that clicking one band and another can be told apart
    browser = chromium(tmp_path / "profile")
    try:
        open_page(browser, server.url)
        browser.find_element(By.ID, "timeline-file").send_keys(str(path))
        WebDriverWait(browser, 120).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results .timeline"))
        shown_bands = bands(browser)
        audio = browser.find_element(By.CSS_SELECTOR, "#results .timeline audio")
        WebDriverWait(browser, 30).until(lambda b: b.execute_script("return arguments[0].readyState", audio) >= 1)
        cursor = browser.find_element(By.CSS_SELECTOR, "#results .timeline .cursor")
        positions = []
        for segment in segments[:2]:  # the cursor follows the audio's currentTime
            middle = (segment["start"] + segment["end"]) / 2
            browser.execute_script("arguments[0].currentTime = arguments[1]", audio, middle)
            WebDriverWait(browser, 10).until(
                lambda b, t=middle: abs(float(cursor.get_attribute("data-time") or -1) - t) < 1e-3
            )
            positions.append((percent(cursor, "left"), [band["current"] for band in bands(browser)]))
        clicked = []
        for index in (1, 0):  # a click on a band moves the playback to its start
            browser.find_elements(By.CSS_SELECTOR, "#results .timeline .band")[index].click()
            start = segments[index]["start"]
            WebDriverWait(browser, 10).until(
                lambda b, t=start: abs(float(cursor.get_attribute("data-time") or -1) - t) < 1e-3
            )
            clicked.append(browser.execute_script("return arguments[0].currentTime", audio))
        duration_shown = float(
            browser.find_element(By.CSS_SELECTOR, "#results .timeline").get_attribute("data-duration")
        )
    finally:
        browser.quit()
    assert duration_shown == duration
    assert [(b["start"], b["end"], b["emotion"]) for b in shown_bands] == [
        (s["start"], s["end"], s["emotion"]) for s in segments
    ]
    for band, segment in zip(shown_bands, segments):
        assert band["confidence"] == pytest.approx(segment["confidence"], abs=1e-6)
        assert band["left"] == pytest.approx(100 * segment["start"] / duration, abs=0.01)
        assert band["width"] == pytest.approx(100 * (segment["end"] - segment["start"]) / duration, abs=0.01)
    for k, (left, current) in enumerate(positions):
        middle = (segments[k]["start"] + segments[k]["end"]) / 2
        assert left == pytest.approx(100 * middle / duration, abs=0.01)
        assert current == [i == k for i in range(len(segments))]
    assert clicked == pytest.approx([segments[1]["start"], segments[0]["start"]], abs=1e-3)


@pytest.fixture(scope="module")
def demo_server(bundle, tmp_path_factory):
    """The same model, completed as the bundle stage does, as if trained on the demo corpus."""
    server = ServeProcess(complete_bundle(bundle, tmp_path_factory.mktemp("demo") / "model", demo=True))
    yield server
    assert server.stop() == 0, "".join(server.lines)


def described(browser, url: str) -> tuple[bool, str]:
    """Whether the page shows its demo banner, and its line describing the model."""
    open_page(browser, url)
    return browser.find_element(By.ID, "demo").is_displayed(), browser.find_element(By.ID, "model").text


def test_the_page_names_the_training_source_and_flags_a_demo_model(server, demo_server, bundle, speech16k, tmp_path):
    browser = chromium(tmp_path / "profile")
    try:
        banner, text = described(browser, server.url)
        demo_banner, demo_text = described(browser, demo_server.url)
    finally:
        browser.quit()
    demo = requests.get(f"{demo_server.url}/model", timeout=10).json()["data"]
    assert demo["demo"] is True and demo["corpus_files"] > demo["train_files"]
    assert (banner, demo_banner) == (False, True)
    assert f"trained on {speech16k} (ravdess naming convention), " in text and "demo" not in text
    assert f"{demo['train_files']} of its {demo['corpus_files']} files" in demo_text and "ravdess" not in demo_text


def test_a_file_the_browser_cannot_read_is_named_and_the_server_not_blamed(server, tmp_path):
    unreadable = tmp_path / "gone.wav"
    unreadable.mkdir()  # the browser takes its name, then cannot read it, as a file deleted after it was chosen
    browser = chromium(tmp_path / "profile")
    try:
        open_page(browser, server.url)
        browser.find_element(By.ID, "file").send_keys(str(unreadable))
        WebDriverWait(browser, 60).until(lambda b: b.find_element(By.ID, "status").get_attribute("class") == "error")
        status = browser.find_element(By.ID, "status").text
        results = browser.find_elements(By.CSS_SELECTOR, "#results .result")
    finally:
        browser.quit()
    assert "gone.wav" in status and "ser serve" not in status and results == []
