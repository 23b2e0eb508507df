"""`dvc plots show` and `dvc plots diff` pages render in a real headless Chromium with no network."""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT, require_program
from tests.dvcrepo import DvcRepo

pytestmark = pytest.mark.slow
OFFLINE = [
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves
    "--proxy-server=http://127.0.0.1:9",  # and no address is reached directly: the discard port, nothing listens
    "--proxy-bypass-list=<-loopback>",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser the plots pages are checked in, found before anything is run."""
    return shutil.which("chromium-browser") or require_program("chromium", "apt-get install chromium (Debian)")


def rendered_plots(chromium: str, page: Path, profile: Path) -> int:
    """How many Vega views headless Chromium drew on ``page`` (vega-embed's canvas or svg of marks)."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *OFFLINE,
        "--virtual-time-budget=30000",
        "--dump-dom",
        page.as_uri(),
    ]
    browser = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        dom, _ = browser.communicate(timeout=180)
    finally:
        if browser.poll() is None:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
    assert browser.returncode == 0 and "</html>" in dom, f"chromium failed on {page}"
    return len(re.findall(r'<(?:canvas|svg)[^>]*class="marks"', dom))


def vega_plots(page: Path) -> int:
    """How many Vega views DVC put on ``page`` (one vegaEmbed call each)."""
    return page.read_text(encoding="utf-8").count("vegaEmbed(")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = DvcRepo(tmp_path_factory.mktemp("plots"))
    repo.set_params(features={"families": ["mfcc"], "stats": ["mean"]})  # any features do: only the pages count
    repo.dvc("repro", "evaluate", "plots_template")
    repo.commit("plots")
    return repo


def test_dvc_default_page_is_blank_offline(chromium, repo, tmp_path):
    """Without the template DVC's page loads Vega from a CDN: offline, nothing is drawn (the problem, and
    proof that the browser here really has no network)."""
    assert repo.run("dvc", "config", "plots.html_template", check=False).stdout.strip() == ""
    repo.dvc("plots", "show", "-o", "cdn")
    page = repo.root / "cdn/index.html"
    assert vega_plots(page) >= 4
    assert rendered_plots(chromium, page, tmp_path / "profile") == 0


def test_project_template_renders_every_plot_offline(chromium, repo, tmp_path):
    template = subprocess.run(
        ["dvc", "config", "--project", "plots.html_template"], cwd=PROJECT, capture_output=True, text=True, check=True
    ).stdout.strip()
    repo.dvc("config", "plots.html_template", template)  # the project's own .dvc/config value
    repo.dvc("plots", "show", "-o", "show")
    repo.dvc("plots", "diff", "HEAD", "-o", "diff")
    for name in ("show", "diff"):
        page = repo.root / name / "index.html"
        assert "cdn.jsdelivr" not in page.read_text(encoding="utf-8")
        assert vega_plots(page) >= 4
        assert rendered_plots(chromium, page, tmp_path / f"profile-{name}") == vega_plots(page), f"dvc plots {name}"
