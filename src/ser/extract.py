"""Feature extraction over a manifest: cached per file, parallel, streamed to parquet.

Three properties hold whatever the executor or number of workers:

* Incremental: each file's vector is cached under its audio content hash and the
  feature configuration (params, sample rate, the extractor's own source code and the
  versions of the libraries it runs on, :func:`library_versions`),
  outside DVC's outputs, so a re-run computes only files not done before, and a
  killed run loses at most the files in flight.
* Reproducible: every process that computes features runs with one BLAS thread,
  and rows are written in manifest order with a fixed schema, so the parquet file
  is byte-identical for any ``workers`` and after an interrupted run.
* Bounded memory: workers store vectors in the cache themselves, and the table is
  written in row groups of bounded size, so memory hardly grows with the corpus.
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import inspect
import json
import multiprocessing
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ser import audio, descriptors, features, filters, smile, whisper
from ser.audio import AudioError, load_audio
from ser.config import FeatureParams
from ser.errors import SerError
from ser.features import FeatureExtractor, feature_names
from ser.files import atomic_path
from ser.table import KEY_COLUMNS

BATCH_BYTES = 16 << 20  # at most this much of feature values per parquet row group...
BATCH_ROWS = 2048  # ...and at most this many rows
DASK_BATCH_FILES = 8  # files per Dask task: amortises the scheduler's per-task overhead
DASK_CONNECT_TIMEOUT = "30s"


class ExtractError(SerError, RuntimeError):
    """Features cannot be computed as configured; the message says what to change."""


class FeatureCache:
    """One raw little-endian float64 vector per audio content hash, in a folder per feature configuration.

    Entries are written under a temporary name and renamed, so a killed run leaves
    only whole entries; an entry of the wrong size counts as missing.
    """

    def __init__(self, root: str | Path, params: FeatureParams, sample_rate: int, width: int):
        self.folder = Path(root) / configuration_key(params, sample_rate)
        self.width = width
        self._shards: set[Path] = set()

    def path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / f"{sha256}.f8"

    def has(self, sha256: str) -> bool:
        try:
            return self.path(sha256).stat().st_size == 8 * self.width
        except OSError:
            return False

    def load(self, sha256: str) -> np.ndarray:
        return np.fromfile(self.path(sha256), dtype="<f8")

    def store(self, sha256: str, vector: np.ndarray) -> None:
        path = self.path(sha256)
        if path.parent not in self._shards:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._shards.add(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(np.asarray(vector, dtype="<f8").tobytes())
        os.replace(tmp, path)


def library_versions(params: FeatureParams) -> dict[str, str]:
    """Versions of the libraries whose code shapes a file's vector under ``params``, by name.

    Decoding (soundfile and its libsndfile), resampling (soxr) and the numerics (numpy,
    scipy) always; a feature family backed by another library adds that library here
    (opensmile; ctranslate2 and the digest of the encoder's weights for whisper).
    """
    import soundfile

    names = ["numpy", "scipy", "soxr", "soundfile"]
    if set(params.families) & set(smile.SETS):
        names.append("opensmile")
    if "whisper" in params.families:
        names.append("ctranslate2")
    versions = {name: _installed_version(name) for name in names}
    versions["libsndfile"] = soundfile.__libsndfile_version__
    if "whisper" in params.families:
        versions["whisper weights sha256"] = whisper.resolve_model(params.whisper.model)[1]
    return versions


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@lru_cache(maxsize=8)
def configuration_key(params: FeatureParams, sample_rate: int) -> str:
    """Hash of everything that decides a file's vector: params, the code that computes it, the versions of
    its libraries and the encoder's weights (:func:`library_versions`)."""
    text = json.dumps([params.definition(), sample_rate, library_versions(params)], sort_keys=True) + "".join(
        inspect.getsource(module) for module in (features, filters, descriptors, smile, whisper, audio))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_worker_extractor = None
_worker_cache: FeatureCache | None = None


def _keep_freed_memory() -> None:
    """Let glibc reuse freed buffers instead of giving them back to the system after every file.

    A file's STFT temporaries are about a megabyte each, above glibc's default mmap
    threshold, so each would be mapped, faulted in page by page and unmapped again,
    file after file. Nothing happens where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # mallopt parameters, from malloc.h
    libc.mallopt(m_mmap_threshold, 4 << 20)
    libc.mallopt(m_trim_threshold, 16 << 20)


def _start_worker(params: FeatureParams, sample_rate: int, cache: FeatureCache | None = None) -> None:
    """Build the extractor once per process; ``cache`` is where it stores."""
    global _worker_extractor, _worker_cache
    _worker_extractor = FeatureExtractor(params, sample_rate)
    _worker_cache = cache


def _set_up_worker_process() -> None:
    """In a forked process that only extracts: BLAS on one thread and glibc keeping freed memory, for its lifetime."""
    threadpool_limits(1)
    _keep_freed_memory()


def _extract_file(task: tuple[str, str]) -> tuple[str, np.ndarray | str]:
    """``(sha256, vector)``, or ``(sha256, error message)`` for a file that cannot be decoded."""
    sha256, path = task
    if _worker_extractor is None:
        raise RuntimeError("worker not started")
    try:
        samples = load_audio(path, _worker_extractor.sample_rate, min_samples=_worker_extractor.params.min_samples)
    except AudioError as error:
        return sha256, f"{path} {error}"
    return sha256, _worker_extractor(samples)


def _extract_and_cache(task: tuple[str, str]) -> tuple[str, str | None]:
    """:func:`_extract_file`, storing the vector in the cache here: only ``(sha256, error or None)`` goes back.

    Sending vectors back to the parent would let them pile up in its result queue
    whenever the workers outpace it, so its memory would grow with the corpus.
    """
    sha256, result = _extract_file(task)
    if isinstance(result, str):
        return sha256, result
    _worker_cache.store(sha256, result)
    return sha256, None


def _extract_batch_on_dask_worker(batch: list[tuple[str, str]], params: FeatureParams, sample_rate: int,
                                  expected_key: str) -> list:
    """:func:`_extract_file` over ``batch`` on a Dask worker that runs the client's feature code."""
    if configuration_key(params, sample_rate) != expected_key:
        raise ExtractError("a Dask worker runs different feature code than this project "
                           f"(configuration {configuration_key(params, sample_rate)}, expected {expected_key}); "
                           "install the same version of ser on every worker")
    if _worker_extractor is None or _worker_extractor.params != params or _worker_extractor.sample_rate != sample_rate:
        _start_worker(params, sample_rate)
    with threadpool_limits(1):  # the Dask worker's own BLAS setting comes back after the batch
        return [_extract_file(task) for task in batch]


def _extract_dask(params: FeatureParams, sample_rate: int, tasks: list[tuple[str, str]]) -> Iterator:
    """Run on a Dask distributed cluster in batches, a few per worker in flight.

    Paths are made absolute first: workers see the files through a shared file system.
    """
    from dask.distributed import Client, as_completed

    key = configuration_key(params, sample_rate)
    batches = iter(_batches([(sha256, str(Path(path).resolve())) for sha256, path in tasks], DASK_BATCH_FILES))
    try:
        client = Client(params.scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise ExtractError(f"features.scheduler: cannot reach the Dask scheduler at {params.scheduler} ({error}); "
                           "start one (`dask scheduler`) or set features.executor: local") from None
    with client:
        def submit(batch):
            return client.submit(_extract_batch_on_dask_worker, batch, params, sample_rate, key, pure=False)

        window = 2 * max(1, len(client.scheduler_info()["workers"]))
        running = as_completed([submit(batch) for batch in _take(batches, window)])
        for future in running:
            yield from future.result()
            future.release()
            for batch in _take(batches, 1):
                running.add(submit(batch))


def _extract_local(params: FeatureParams, sample_rate: int, tasks: list[tuple[str, str]], workers: int,
                   cache: FeatureCache) -> Iterator:
    """Run in forked processes that inherit the imported libraries, or in this one; each stores what it computes.

    BLAS runs on one thread while this one computes and is given back its threads after.
    """
    _start_worker(params, sample_rate, cache)  # before forking: workers inherit it warm
    if workers == 1 or len(tasks) == 1:
        with threadpool_limits(1):
            yield from map(_extract_and_cache, tasks)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_set_up_worker_process) as pool:
        yield from pool.imap_unordered(_extract_and_cache, tasks, chunksize=4)


def _take(iterator: Iterator, count: int) -> list:
    return [item for _, item in zip(range(count), iterator)]


def resolve_workers(workers: int) -> int:
    """``0`` means every core this process may use."""
    return workers or len(os.sched_getaffinity(0))


def compute_missing(manifest_rows: list[dict], params: FeatureParams, sample_rate: int,
                    cache: FeatureCache, workers: int) -> int:
    """Compute and cache the vectors of files not cached yet; return how many were computed."""
    tasks = list({row["sha256"]: (row["sha256"], row["path"]) for row in manifest_rows
                  if not cache.has(row["sha256"])}.values())
    if not tasks:
        return 0
    if params.executor == "dask":
        results = _extract_dask(params, sample_rate, tasks)
    else:
        results = _extract_local(params, sample_rate, tasks, min(resolve_workers(workers), len(tasks)), cache)
    failures = []
    with tqdm(total=len(tasks), desc="features", unit="file", file=sys.stderr, delay=1.0) as progress:
        for sha256, result in results:
            if isinstance(result, str):
                failures.append(result)
            elif result is not None:  # a Dask worker's vector: stored here, where the cache is
                cache.store(sha256, result)
            progress.update()
    if failures:
        raise AudioError(f"{len(failures)} file(s) could not be decoded although ingest accepted them "
                         f"(changed since?): {failures[0]}; re-run the ingest stage")
    return len(tasks)


def write_feature_table(path: str | Path, manifest_rows: list[dict], names: list[str], cache: FeatureCache) -> None:
    """Write key columns and cached vectors in manifest order, in row groups of bounded size, atomically.

    A row group holds at most :data:`BATCH_BYTES` of feature values or :data:`BATCH_ROWS`
    rows, so the batch in memory does not grow with the corpus; what does is the metadata the
    writer keeps for the footer, about 0.9 kB per column per row group (2 MB at 2280 columns).
    Statistics are written for the key columns only.
    """
    schema = pa.schema([(key, pa.string()) for key in KEY_COLUMNS] + [(name, pa.float64()) for name in names])
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="snappy", use_dictionary=list(KEY_COLUMNS),
                              write_statistics=list(KEY_COLUMNS)) as writer:
            _write_row_groups(writer, manifest_rows, names, cache)


def _write_row_groups(writer: pq.ParquetWriter, manifest_rows: list[dict], names: list[str],
                      cache: FeatureCache) -> None:
    """Fill one batch buffer, reused for every row group and freed before the writer builds its footer."""
    rows_per_group = max(1, min(BATCH_ROWS, BATCH_BYTES // (8 * max(1, len(names)))))
    by_feature = np.empty((len(names), min(rows_per_group, len(manifest_rows))))  # a contiguous run per column
    for batch in _batches(manifest_rows, rows_per_group):
        for column, row in enumerate(batch):
            by_feature[:, column] = cache.load(row["sha256"])
        columns = [_string_column([str(row[key]) for row in batch]) for key in KEY_COLUMNS]
        columns += [_float_column(values[: len(batch)]) for values in by_feature]
        writer.write_table(pa.Table.from_arrays(columns, schema=writer.schema))


def _string_column(values: list[str]) -> pa.Array:
    """An arrow string array made from its buffers (``pa.array`` would import pandas: 0.2 s of start-up)."""
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(item) for item in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def _float_column(values: np.ndarray) -> pa.Array:
    """An arrow float64 array over a contiguous numpy vector, without a copy."""
    values = np.ascontiguousarray(values, dtype="<f8")
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])


def _batches(rows: list, size: int) -> Iterable[list]:
    for start in range(0, max(len(rows), 1), size):  # one (empty) batch for no rows: the file still gets its schema
        yield rows[start: start + size]


def extract_features(manifest_rows: list[dict], params: FeatureParams, sample_rate: int, out: str | Path,
                     cache_dir: str | Path, workers: int = 0) -> int:
    """Extract every manifest file's features into the parquet file ``out``; return how many were computed."""
    names = feature_names(params)
    cache = FeatureCache(cache_dir, params, sample_rate, len(names))
    computed = compute_missing(manifest_rows, params, sample_rate, cache, workers)
    write_feature_table(out, manifest_rows, names, cache)
    return computed
