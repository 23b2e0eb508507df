"""Take docs/serve.png: the page of `ser serve` in headless Chromium after recording a file from its fake microphone.

PYTHONPATH=src python docs/serve_screenshot.py [--model model] [--audio FILE] [--out docs/serve.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import soundfile as sf

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))  # for tests.*

from tests.browsers import chromium, open_page, record  # noqa: E402
from tests.servers import ServeProcess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=PROJECT / "model")
    parser.add_argument(
        "--audio", type=Path, default=PROJECT.parent / "shared/data/ravdess16k/Actor_03/03-01-05-02-01-01-03.wav"
    )
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "serve.png")
    args = parser.parse_args()
    server = ServeProcess(args.model)
    try:
        with tempfile.TemporaryDirectory() as profile:
            browser = chromium(Path(profile), microphone=args.audio, size="900,820")
            try:
                open_page(browser, server.url)
                record(browser, sf.info(args.audio).duration + 0.5)
                browser.save_screenshot(str(args.out))
            finally:
                browser.quit()
    finally:
        server.stop()
    print(args.out)


if __name__ == "__main__":
    main()
