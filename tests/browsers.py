"""Headless Chromium driven by selenium, for the page of `ser serve` (tests and its screenshot in docs/)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def chromium(profile: Path, microphone: Path | None = None, size: str = "900,800") -> webdriver.Chrome:
    """Headless Chromium with a fresh profile, nothing fetched in the background. With ``microphone``
    (a WAV file), its fake microphone plays that file once from the moment a page opens it, then
    silence, and pages may use it without asking."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={size}",
    ]
    if microphone is not None:
        flags += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}%noloop",
        ]
    for flag in flags:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))


def open_page(browser, url: str) -> None:
    """Open the page and wait until it has described the model (its script ran and reached the server)."""
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda b: "emotions" in b.find_element(By.ID, "model").text)


def record(browser, seconds: float) -> None:
    """Press Record, let it record ``seconds``, press Stop and wait for the prediction to show."""
    button = browser.find_element(By.ID, "record")
    button.click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "status").text.startswith("recording"))
    time.sleep(seconds)
    button.click()
    WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results .result"))
