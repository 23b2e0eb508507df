"""The ingest stage under real DVC with data.source an http URL on 127.0.0.1 serving a hostile zip."""

import json
import stat
import zipfile

import pandas as pd
import pytest

from tests.audiofiles import GOOD_RAVDESS
from tests.dvcrepo import DvcRepo
from tests.test_sources import full_downloads, server  # noqa: F401  (the loopback server fixture)

pytestmark = pytest.mark.slow


def test_url_source_runs_ingest_once_reports_rejects_and_feeds_features(server, speech16k, tmp_path):  # noqa: F811
    with zipfile.ZipFile(server.root / "corpus.zip", "w") as bundle:
        for name in GOOD_RAVDESS:
            bundle.write(speech16k / name, f"Audio_Speech/{name}")
        bundle.write(speech16k / GOOD_RAVDESS[0], "Audio_Speech/Actor_01/03-01-01-01-01-02-01.wav")  # duplicate
        bundle.writestr("Audio_Speech/Actor_03/03-01-02-01-01-01-03.wav", b"")  # zero bytes
        link = zipfile.ZipInfo("Audio_Speech/Actor_03/03-01-02-01-01-02-03.wav")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
    url = f"{server.url}/corpus.zip"
    (tmp_path / "repo").mkdir()
    repo = DvcRepo(tmp_path / "repo")
    repo.set_params(data={"source": url, "emotions": ["neutral", "calm"]})
    repo.commit("corpus by URL")

    before = repo.snapshot()
    repo.dvc("repro", "features")
    first = repo.changes_since(before)
    assert first.stages == ["ingest", "features"]
    assert (first.decoded, first.unchanged) == (5, 0)  # four good files and the duplicate; the empty one refused unread
    manifest = pd.read_csv(repo.root / "data/catalog.csv", dtype=str)
    assert sorted(manifest["file"]) == sorted(f"Audio_Speech/{n}" for n in GOOD_RAVDESS)
    assert all((repo.root / p).is_file() and p.startswith("data/raw/") for p in manifest["path"])
    rejected = pd.read_csv(repo.root / "data/rejected.csv")
    reasons = sorted(r.split(":")[0] for r in rejected["reason"])
    assert reasons == ["archive entry refused", "duplicate", "file is empty (0 bytes)"]
    metrics = json.loads((repo.root / "metrics/ingest.json").read_text())
    assert (metrics["files"], metrics["rejected"], metrics["duplicates"]) == (4, 3, 1)
    assert len(pd.read_parquet(repo.root / "data/features.parquet")) == 4
    kept = [p for p in (repo.root / "data/downloads").iterdir() if p.name.endswith("-corpus.zip")]
    assert len(kept) == 1 and kept[0].read_bytes() == (server.root / "corpus.zip").read_bytes()
    # git would add nothing of the downloads folder (plain `git status` shows only "?? data/", whatever is ignored)
    assert repo.run("git", "ls-files", "--others", "--exclude-standard", "data/downloads").stdout == ""

    extracted = (repo.root / "data/raw/SOURCE.json").stat().st_ino
    before = repo.snapshot()
    repo.dvc("repro", "features")  # ingest checks the kept download and finds nothing new
    again = repo.changes_since(before)
    assert again.stages == ["ingest"] and (again.decoded, again.unchanged) == (0, 5)
    assert (repo.root / "data/raw/SOURCE.json").stat().st_ino == extracted  # not re-extracted
    repo.set_params(audio={"sample_rate": 22050}, features={"families": ["mfcc"]})  # whisper needs 16 kHz
    before = repo.snapshot()
    repo.dvc("repro", "ingest")
    assert repo.changes_since(before).stages == ["ingest"]
    assert full_downloads(server).count("/corpus.zip") == 1, server.log
