"""`ser timeline` over a folder on a Dask cluster (--scheduler): the same output as on this machine's cores, and an
unreachable scheduler as one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audiofiles import write_conversation, write_tone
from tests.bundles import train_bundle
from tests.conftest import assert_one_line, require

SER = [sys.executable, "-m", "ser", "timeline"]
CLIPS = ("Actor_05/03-01-01-01-01-01-05.wav", "Actor_06/03-01-05-02-01-01-06.wav", "Actor_05/03-01-08-02-02-01-05.wav")


@pytest.fixture(scope="module")
def bundle(speech16k, tmp_path_factory) -> Path:
    return train_bundle(speech16k, tmp_path_factory.mktemp("bundle") / "model", normalize="speaker")


@pytest.fixture(scope="module")
def folder(speech16k, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("recordings")
    for k in range(len(CLIPS)):
        write_conversation(root / f"call{k}.wav", [speech16k / name for name in CLIPS[k:] + CLIPS[:k]], gap=1.0)
    write_tone(root / "tone.wav", seconds=2.0)
    (root / "broken.wav").write_bytes(b"RIFF not really")
    return root


def test_a_dask_cluster_gives_what_this_machines_cores_give(bundle, folder):
    distributed = require("dask.distributed")
    local = subprocess.run(
        [*SER, str(folder), "--model", str(bundle), "--format", "json"], capture_output=True, text=True
    )
    assert local.returncode == 1 and local.stdout.count("\n") == 4, local.stderr
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote = subprocess.run(
            [*SER, str(folder), "--model", str(bundle), "--format", "json", "--scheduler", cluster.scheduler_address],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert (remote.returncode, remote.stdout, remote.stderr) == (local.returncode, local.stdout, local.stderr)


def test_an_unreachable_scheduler_is_one_line(bundle, folder):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    run = subprocess.run(
        [*SER, str(folder / "tone.wav"), "--model", str(bundle), "--scheduler", address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert_one_line(run.stderr, address, "--scheduler")
