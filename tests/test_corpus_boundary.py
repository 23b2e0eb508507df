"""The corpus boundary under real DVC: `dvc exp run` on a corpus folder full of hostile files.

DVC never opens a corpus file (``data.source`` is not a dependency; ingest runs on every
repro and checks each file itself), so a FIFO cannot hang the run and a broken link cannot
stop it: every good file reaches data/features.parquet, every bad one data/rejected.csv.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tests.audiofiles import GOOD_RAVDESS, copy_good_files
from tests.dvcrepo import DvcRepo
from tests.test_ingest_hostile import HOSTILE

pytestmark = pytest.mark.slow
RUN_SECONDS = 300  # a hang fails the test instead of blocking it
CHEAP = {"features": {"families": ["mfcc"], "stats": ["mean"]}, "train": {"model": "logreg"}}
HOSTILE_CASES = [
    "zero-byte",
    "truncated header",
    "random bytes named .wav",
    "directory named .wav",
    "broken link named .wav",
    "link loop named .wav",
    "FIFO named .wav",
    "socket named .wav",
    "all-silent",
    "shorter than one frame",
    "NaN samples",
    "a header claiming 2**36 samples",
    "longer than audio.max_seconds",
]


def _without_permission_override() -> None:
    """In the child before exec: drop the capabilities that let root ignore permission bits.

    The uid stays 0, so the interpreter under /root (mode 700) still starts, but a file or
    folder of mode 000 is refused exactly as for any other user, in every process DVC starts.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def exp_run(repo: DvcRepo, *args: str):
    """`dvc exp run` as a user bound by permission bits, within :data:`RUN_SECONDS`."""
    options = {"preexec_fn": _without_permission_override} if os.geteuid() == 0 else {}
    return repo.run("dvc", "exp", "run", *args, timeout=RUN_SECONDS, **options)


def make_repo(root: Path, source: Path, **data) -> DvcRepo:
    root.mkdir()
    repo = DvcRepo(root)
    repo.set_params(data={"source": str(source), "emotions": ["neutral", "calm"], **data}, **CHEAP)
    repo.commit("corpus")
    return repo


def outcome(repo: DvcRepo) -> tuple[list[str], dict[str, str]]:
    """Paths in data/features.parquet, and path -> reason in data/rejected.csv."""
    features = pd.read_parquet(repo.root / "data/features.parquet", columns=["path"])
    rejected = pd.read_csv(repo.root / "data/rejected.csv", dtype=str, keep_default_na=False)
    return sorted(features["path"]), dict(zip(rejected["path"], rejected["reason"]))


def hostile_folder(speech16k: Path, corpus: Path) -> tuple[list[str], dict[str, str]]:
    """Real files plus one of each hostile kind; returns the good paths and bad path -> expected reason."""
    good = [str(p) for p in copy_good_files(speech16k, corpus)]
    expected = {}
    for number, case in enumerate(HOSTILE_CASES, start=20):
        bad = corpus / f"Actor_{number}/03-01-01-01-01-01-{number}.wav"
        bad.parent.mkdir()
        expected[str(bad)] = HOSTILE[case](bad, speech16k)
    unparsable = corpus / "Actor_03 take 2.wav"
    shutil.copyfile(speech16k / "Actor_03/03-01-01-01-01-01-03.wav", unparsable)
    expected[str(unparsable)] = "unparsable name: expected 7 dash-separated"
    duplicate = corpus / "Actor_01/03-01-01-01-01-02-01.wav"
    shutil.copyfile(corpus / GOOD_RAVDESS[0], duplicate)
    expected[str(duplicate)] = f"duplicate: same audio as {GOOD_RAVDESS[0]}"
    (corpus / "Actor_01/loop").symlink_to(corpus)  # a folder link loop: walked once, not forever
    locked_file = corpus / "Actor_40/03-01-02-01-01-01-40.wav"
    locked_file.parent.mkdir()
    shutil.copyfile(speech16k / "Actor_03/03-01-02-01-01-01-03.wav", locked_file)
    locked_file.chmod(0)
    expected[str(locked_file)] = "file cannot be read: Permission denied"
    locked_folder = corpus / "Actor_41"
    locked_folder.mkdir()
    shutil.copyfile(speech16k / "Actor_03/03-01-02-01-01-02-03.wav", locked_folder / "03-01-02-01-01-01-41.wav")
    locked_folder.chmod(0)
    expected[str(locked_folder)] = "folder cannot be listed: Permission denied"
    return sorted(good), expected


def assert_rejected_as_expected(rejected: dict[str, str], expected: dict[str, str]) -> None:
    assert sorted(rejected) == sorted(expected)
    for path, reason in expected.items():
        assert rejected[path].startswith(reason), (path, rejected[path])


def test_hostile_folder_runs_through_and_an_unchanged_corpus_reruns_nothing_downstream(speech16k, tmp_path):
    corpus = tmp_path / "corpus"
    good, expected = hostile_folder(speech16k, corpus)
    repo = make_repo(tmp_path / "repo", corpus)
    try:
        before = repo.snapshot()
        exp_run(repo, "features")
        first = repo.changes_since(before)
        assert first.stages == ["ingest", "features"]
        decoded = len(good) + 8  # and the duplicate and the seven of bad content; the others are refused unopened
        assert (first.decoded, first.unchanged) == (decoded, 0)
        features, rejected = outcome(repo)
        assert features == good
        assert_rejected_as_expected(rejected, expected)

        before = repo.snapshot()
        exp_run(repo, "features")
        again = repo.changes_since(before)
        assert again.stages == ["ingest"] and (again.decoded, again.unchanged) == (0, decoded)

        added = corpus / "Actor_03/03-01-02-01-01-01-03.wav"
        added.parent.mkdir()
        shutil.copyfile(speech16k / "Actor_03/03-01-02-01-01-01-03.wav", added)
        (corpus / "Actor_20/03-01-01-01-01-01-20.wav").unlink()  # a bad file goes away
        del expected[str(corpus / "Actor_20/03-01-01-01-01-01-20.wav")]
        before = repo.snapshot()
        exp_run(repo, "features")
        third = repo.changes_since(before)
        assert third.stages == ["ingest", "features"] and third.computed == 1  # the others' vectors from the cache
        assert (third.decoded, third.unchanged) == (1, decoded)  # the zero-byte file was refused unread: never cached
        features, rejected = outcome(repo)
        assert features == sorted([*good, str(added)])
        assert_rejected_as_expected(rejected, expected)
    finally:
        for folder in (corpus / "Actor_40/03-01-02-01-01-01-40.wav", corpus / "Actor_41"):
            folder.chmod(0o755)


def test_manifest_rows_pointing_at_missing_hostile_or_outside_files(speech16k, tmp_path):
    """A local manifest may name files anywhere (each is checked); one inside an archive may not leave it."""
    folder = tmp_path / "listed"
    good = [str(p) for p in copy_good_files(speech16k, folder)]
    outside = tmp_path / "elsewhere/take.wav"
    outside.parent.mkdir()
    shutil.copyfile(speech16k / "Actor_03/03-01-01-01-01-01-03.wav", outside)
    rows = [(name, "neutral" if "-01-01-01-01-0" in name else "calm", name[6:8]) for name in GOOD_RAVDESS]
    rows.append(("../elsewhere/take.wav", "neutral", "03"))
    expected = {str(folder / "gone.wav"): "file does not exist"}
    rows.append(("gone.wav", "calm", "04"))
    for case in ("FIFO named .wav", "broken link named .wav", "directory named .wav", "NaN samples"):
        name = case.split()[0].lower() + ".wav"
        expected[str(folder / name)] = HOSTILE[case](folder / name, speech16k)
        rows.append((name, "calm", "05"))
    pd.DataFrame(rows, columns=["path", "emotion", "speaker"]).to_csv(folder / "manifest.csv", index=False)
    repo = make_repo(tmp_path / "repo", folder, dataset="manifest")
    exp_run(repo, "features")
    features, rejected = outcome(repo)
    assert features == sorted([*good, str(folder / "../elsewhere/take.wav")])
    assert_rejected_as_expected(rejected, expected)

    archive = tmp_path / "listed.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for name in GOOD_RAVDESS:
            bundle.write(speech16k / name, f"corpus/{name}")
        bundle.write(outside, "elsewhere/take.wav")  # in the archive, but not below the manifest's folder: fine
        listed = rows[:4] + [
            ("../elsewhere/take.wav", "neutral", "03"),
            (str(outside), "calm", "03"),
            ("../../../elsewhere/take.wav", "calm", "06"),
        ]
        bundle.writestr(
            "corpus/manifest.csv", pd.DataFrame(listed, columns=["path", "emotion", "speaker"]).to_csv(index=False)
        )
    repo.set_params(data={"source": str(archive)})
    exp_run(repo, "features")
    features, rejected = outcome(repo)
    raw = "data/raw/corpus"
    assert features == sorted([*(f"{raw}/{name}" for name in GOOD_RAVDESS), f"{raw}/../elsewhere/take.wav"])
    assert rejected == {
        str(outside): "outside the archive: a manifest in an archive may only name files of that archive",
        f"{raw}/../../../elsewhere/take.wav": (
            "outside the archive: a manifest in an archive may only name files of that archive"
        ),
    }
