"""Parallel, cached, streamed extraction: identical bytes whatever the workers, executor or interruptions."""

import io
import os
import signal
import subprocess
import time
from dataclasses import replace

import pandas as pd
import pytest
import yaml

from ser.config import FeatureParams
from ser.features.batch import extract_features
from ser.features.cache import FeatureCache
from ser.files import sha256_of
from tests.conftest import PROJECT, require
from tests.featuresets import NOTEBOOK_FEATURES
from tests.stagerun import stage_command


def catalog_rows(root, count):
    files = sorted(root.glob("Actor_*/*.wav"))
    files = files[:: max(1, len(files) // count)][:count]
    return [
        {
            "file": f"{p.parent.name}/{p.name}",
            "path": str(p),
            "speaker": p.stem[-2:],
            "emotion": "x",
            "sha256": sha256_of(p),
        }
        for p in files
    ]


@pytest.fixture(scope="module")
def rows(speech16k):
    return catalog_rows(speech16k, 40)


@pytest.fixture(scope="module")
def reference(rows, tmp_path_factory):
    """One uninterrupted single-worker run: the bytes every other run must reproduce."""
    folder = tmp_path_factory.mktemp("reference")
    computed = extract_features(
        rows, NOTEBOOK_FEATURES, 16000, folder / "features.parquet", folder / "cache", workers=1
    )
    assert computed == len(rows)
    return (folder / "features.parquet").read_bytes()


def test_table_has_keys_then_named_features_in_manifest_order(rows, reference, tmp_path):
    (tmp_path / "f.parquet").write_bytes(reference)
    table = pd.read_parquet(tmp_path / "f.parquet")
    assert list(table.columns[:5]) == ["file", "path", "speaker", "emotion", "sha256"]
    assert table.shape == (len(rows), 5 + 180)
    assert table["file"].tolist() == [row["file"] for row in rows]


def test_parquet_is_byte_identical_for_any_number_of_workers(rows, reference, tmp_path):
    extract_features(
        rows, replace(NOTEBOOK_FEATURES, workers=2), 16000, tmp_path / "f.parquet", tmp_path / "cache", workers=2
    )
    assert (tmp_path / "f.parquet").read_bytes() == reference


def test_only_new_files_are_computed_and_the_result_is_unchanged(rows, reference, tmp_path):
    params = NOTEBOOK_FEATURES
    assert extract_features(rows[:30], params, 16000, tmp_path / "a.parquet", tmp_path / "cache", workers=2) == 30
    assert extract_features(rows, params, 16000, tmp_path / "b.parquet", tmp_path / "cache", workers=2) == 10
    assert (tmp_path / "b.parquet").read_bytes() == reference


def test_cache_is_keyed_by_feature_params(rows, tmp_path):
    params = NOTEBOOK_FEATURES
    extract_features(rows[:5], params, 16000, tmp_path / "a.parquet", tmp_path / "cache", workers=1)
    assert (
        extract_features(
            rows[:5], replace(params, n_mfcc=13), 16000, tmp_path / "b.parquet", tmp_path / "cache", workers=1
        )
        == 5
    )
    assert (
        FeatureCache(tmp_path / "cache", params, 16000, 180).folder
        != FeatureCache(tmp_path / "cache", params, 22050, 180).folder
    )
    assert (
        extract_features(
            rows[:5], replace(params, workers=2), 16000, tmp_path / "c.parquet", tmp_path / "cache", workers=2
        )
        == 0
    )


def test_killed_stage_leaves_no_output_and_a_rerun_gives_identical_bytes(rows, reference, tmp_path):
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["features"]["workers"] = 1
    # the reference's feature set (the notebook's), whatever params.yaml ships
    params["features"].update(families=list(NOTEBOOK_FEATURES.families), stats=list(NOTEBOOK_FEATURES.stats))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out, cache = tmp_path / "features.parquet", tmp_path / "cache"
    command = stage_command(
        "features",
        "--params",
        str(tmp_path / "params.yaml"),
        "--catalog",
        str(manifest),
        "--out",
        str(out),
        "--cache",
        str(cache),
    )
    stage = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cache.rglob("*.f8"))) < 5:
        time.sleep(0.02)
    os.kill(stage.pid, signal.SIGKILL)
    stage.wait()
    done = len(list(cache.rglob("*.f8")))
    assert 5 <= done < len(rows), "the stage must be killed mid-run"
    assert not out.exists() and not list(tmp_path.glob(".features.parquet.*"))
    kept = {path: path.stat().st_mtime_ns for path in cache.rglob("*.f8")}
    subprocess.run(command, capture_output=True, text=True, check=True)
    assert {path: path.stat().st_mtime_ns for path in kept} == kept  # the vectors cached before the kill are reused
    assert len(list(cache.rglob("*.f8"))) == len(rows)  # and only the others computed
    assert out.read_bytes() == reference


def test_dask_cluster_gives_the_same_table(rows, reference, tmp_path, monkeypatch):
    distributed = require("dask.distributed")

    monkeypatch.chdir(PROJECT.parent)  # manifest paths relative to here; workers get them made absolute
    relative = [{**row, "path": os.path.relpath(row["path"])} for row in rows]
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        params = replace(NOTEBOOK_FEATURES, executor="dask", scheduler=cluster.scheduler_address)
        computed = extract_features(relative, params, 16000, tmp_path / "f.parquet", tmp_path / "cache")
    assert computed == len(rows)
    table = pd.read_parquet(tmp_path / "f.parquet")
    assert table["path"].tolist() == [row["path"] for row in relative]  # the table keeps the manifest's paths
    reference_table = pd.read_parquet(io.BytesIO(reference))
    pd.testing.assert_frame_equal(table.drop(columns="path"), reference_table.drop(columns="path"), check_exact=True)


def test_dask_worker_refuses_to_run_different_feature_code(rows):
    from ser.features.batch import ExtractError, _extract_batch_on_dask_worker
    from ser.features.cache import configuration_key

    batch = [(rows[0]["sha256"], rows[0]["path"], None)]
    params = NOTEBOOK_FEATURES
    sha256, vector = _extract_batch_on_dask_worker(batch, params, 16000, configuration_key(params, 16000))[0]
    assert sha256 == rows[0]["sha256"] and vector.shape == (180,)
    with pytest.raises(ExtractError, match="install the same version of ser on every worker"):
        _extract_batch_on_dask_worker(batch, params, 16000, "0" * 16)


def test_unreachable_scheduler_is_one_clear_error(rows, tmp_path, monkeypatch):
    import socket

    from ser.features import batch as extract

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setattr(extract, "DASK_CONNECT_TIMEOUT", "2s")
    params = replace(NOTEBOOK_FEATURES, executor="dask", scheduler=address)
    with pytest.raises(extract.ExtractError, match=f"features.scheduler: cannot reach the Dask scheduler at {address}"):
        extract_features(rows[:2], params, 16000, tmp_path / "f.parquet", tmp_path / "cache")
    assert not (tmp_path / "f.parquet").exists()


def blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.mark.parametrize("workers", [1, 2])
def test_extraction_gives_the_callers_blas_its_threads_back(rows, tmp_path, workers):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(2):  # two, whatever this machine's default: extraction pins one while it computes
        assert set(blas_threads()) == {2}
        extract_features(
            rows[:3], NOTEBOOK_FEATURES, 16000, tmp_path / "f.parquet", tmp_path / "cache", workers=workers
        )
        assert set(blas_threads()) == {2}


def test_a_library_version_change_changes_the_cache_key(monkeypatch):
    from ser.features import cache

    own, smile, encoder = (
        FeatureParams(families=("mfcc",)),
        FeatureParams(families=("mfcc", "egemaps")),
        FeatureParams(families=("whisper", "mfcc")),
    )
    assert {"numpy", "scipy", "soxr", "soundfile", "libsndfile"} <= set(cache.library_versions(own))
    assert "opensmile" not in cache.library_versions(own) and "opensmile" in cache.library_versions(smile)
    assert {"onnxruntime", "whisper weights sha256"} <= set(cache.library_versions(encoder))
    every = (own, smile, encoder)
    before = {params: cache.configuration_key(params, 16000) for params in every}
    real = cache.library_versions
    for library in ("numpy", "soundfile", "opensmile", "onnxruntime", "whisper weights sha256"):
        monkeypatch.setattr(
            cache,
            "library_versions",
            lambda params, library=library: {**real(params), **({library: "0.0.1"} if library in real(params) else {})},
        )
        cache.configuration_key.cache_clear()
        for params in every:  # a library's version matters where it is used
            changed = cache.configuration_key(params, 16000) != before[params]
            assert changed == (library in real(params)), (library, params.families)
    monkeypatch.undo()
    cache.configuration_key.cache_clear()
    assert {params: cache.configuration_key(params, 16000) for params in every} == before
