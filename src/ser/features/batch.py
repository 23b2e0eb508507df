"""Batch feature extraction over a corpus's files: cached per file, parallel, streamed to parquet.

Three properties hold whatever the executor or number of workers:

* Incremental: each file's vector is cached under its audio content hash and the
  feature configuration (:mod:`ser.features.cache`), outside DVC's outputs, so a re-run
  computes only files not done before, and a killed run loses at most the files in flight.
* Reproducible: every process that computes features runs with one BLAS thread,
  and rows are written in catalog order with a fixed schema, so the parquet file
  is byte-identical for any ``workers`` and after an interrupted run.
* Bounded memory: workers store vectors in the cache themselves, and the table is
  written in row groups of bounded size, so memory hardly grows with the corpus.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ser.config import FeatureParams
from ser.cores import usable_cores
from ser.corpus.audio import AudioError, load_audio
from ser.corpus.catalog import locate
from ser.errors import SerError
from ser.features.augment import copy_rows, perturbed_copy
from ser.features.cache import FeatureCache, configuration_key
from ser.features.extractor import NOT_FINITE, FeatureExtractor
from ser.features.families import feature_names
from ser.features.table import write_feature_table
from ser.progress import progress_bar

DASK_BATCH_FILES = 8  # files per Dask task: amortises the scheduler's per-task overhead
DASK_CONNECT_TIMEOUT = "30s"


class ExtractError(SerError, RuntimeError):
    """Features cannot be computed as configured; the message says what to change."""


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


def _extract_file(task: tuple) -> tuple[str, np.ndarray | str]:
    """``(sha256, vector)``, or ``(sha256, error message)`` for a file whose features cannot be computed: it
    cannot be decoded, the extractor fails on it, or its vector is not finite (a model cannot take it). A task is
    ``(sha256, path, perturbation)``: the perturbation of a copy (:func:`ser.features.augment.copy_rows`), None for
    the file itself."""
    sha256, path, perturbation = task
    if _worker_extractor is None:
        raise RuntimeError("worker not started")
    try:
        samples = load_audio(path, _worker_extractor.sample_rate, min_samples=_worker_extractor.params.min_samples)
        if perturbation is not None:
            samples = perturbed_copy(samples, perturbation, _worker_extractor.sample_rate)
        vector = _worker_extractor(samples)
    except AudioError as error:
        return sha256, f"{path} {error}"
    except Exception as error:  # noqa: BLE001 - one file's failure, whatever raises it, must not stop the corpus
        return sha256, f"{path} cannot be processed ({type(error).__name__}: {error})"
    if not np.isfinite(vector).all():
        return sha256, f"{path} {NOT_FINITE}"
    return sha256, vector


def _extract_and_cache(task: tuple) -> tuple[str, str | None]:
    """:func:`_extract_file`, storing the vector in the cache here: only ``(sha256, error or None)`` goes back.

    Sending vectors back to the parent would let them pile up in its result queue
    whenever the workers outpace it, so its memory would grow with the corpus.
    """
    sha256, result = _extract_file(task)
    if isinstance(result, str):
        return sha256, result
    _worker_cache.store(sha256, result)
    return sha256, None


def _extract_batch_on_dask_worker(
    batch: list[tuple], params: FeatureParams, sample_rate: int, expected_key: str
) -> list:
    """:func:`_extract_file` over ``batch`` on a Dask worker that runs the client's feature code."""
    if configuration_key(params, sample_rate) != expected_key:
        raise ExtractError(
            "a Dask worker runs different feature code than this project "
            f"(configuration {configuration_key(params, sample_rate)}, expected {expected_key}); "
            "install the same version of ser on every worker"
        )
    if _worker_extractor is None or _worker_extractor.params != params or _worker_extractor.sample_rate != sample_rate:
        _start_worker(params, sample_rate)
    with threadpool_limits(1):  # the Dask worker's own BLAS setting comes back after the batch
        return [_extract_file(task) for task in batch]


def _extract_dask(params: FeatureParams, sample_rate: int, tasks: list[tuple]) -> Iterator:
    """Run on a Dask distributed cluster in batches, a few per worker in flight.

    Paths are made absolute first: workers see the files through a shared file system.
    """
    from dask.distributed import Client, as_completed

    key = configuration_key(params, sample_rate)
    resolved = [(sha256, str(Path(path).resolve()), perturbation) for sha256, path, perturbation in tasks]
    batches = iter(resolved[start : start + DASK_BATCH_FILES] for start in range(0, len(resolved), DASK_BATCH_FILES))
    try:
        client = Client(params.scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise ExtractError(
            f"features.scheduler: cannot reach the Dask scheduler at {params.scheduler} ({error}); "
            "start one (`dask scheduler`) or set features.executor: local"
        ) from None
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


def _extract_local(
    params: FeatureParams, sample_rate: int, tasks: list[tuple], workers: int, cache: FeatureCache
) -> Iterator:
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
    return workers or usable_cores()


def compute_missing(
    catalog_rows: list[dict],
    params: FeatureParams,
    sample_rate: int,
    cache: FeatureCache,
    workers: int,
    progress: bool = False,
    origin: str | Path | None = None,
) -> tuple[int, list[str]]:
    """Compute and cache the vectors of files not cached yet: how many were computed, and a message for each
    file whose features could not be computed (the others are computed and cached all the same). ``progress``:
    a bar of the files done on stderr, if it is a terminal; ``origin``: see :func:`ser.corpus.catalog.locate`."""
    tasks = list(
        {
            row["sha256"]: (row["sha256"], str(locate(row["path"], origin)), row.get("perturbation"))
            for row in catalog_rows
            if not cache.has(row["sha256"])
        }.values()
    )
    if not tasks:
        return 0, []
    if params.executor == "dask":
        results = _extract_dask(params, sample_rate, tasks)
    else:
        results = _extract_local(params, sample_rate, tasks, min(resolve_workers(workers), len(tasks)), cache)
    failures = []
    for sha256, result in progress_bar(results, desc="features", total=len(tasks), shown=progress):
        if isinstance(result, str):
            failures.append(result)
        elif result is not None:  # a Dask worker's vector: stored here, where the cache is
            cache.store(sha256, result)
    return len(tasks) - len(failures), sorted(failures)


def extract_features(
    catalog_rows: list[dict],
    params: FeatureParams,
    sample_rate: int,
    out: str | Path,
    cache_dir: str | Path,
    workers: int = 0,
    progress: bool = False,
    warn: Callable[[str], None] = print,
    origin: str | Path | None = None,
    copies_out: str | Path | None = None,
) -> int:
    """Extract every catalog file's features into one parquet table, computing only what the cache lacks.

    A file whose features cannot be computed (changed since ingest checked it, or features that are not finite)
    is left out of the table and told to ``warn``.

    Parameters
    ----------
    catalog_rows : list of dict
        The ingest stage's catalog: each row's ``path`` is decoded, its ``sha256`` keys the cache, and its other
        columns (``file``, ``speaker``, ``emotion``, ...) are copied to the table.
    params : ser.config.FeatureParams
        What to compute, and how (``workers``, ``executor``).
    sample_rate : int
        The rate in Hz every file is decoded to.
    out : str or Path
        The parquet file to write (atomically): the catalog's columns, then one float column per feature name.
    cache_dir : str or Path
        The per-file cache; its key includes the feature params and library versions, so a change starts afresh.
    workers : int
        Extraction processes; 0: every core this process may use.
    progress : bool
        Show a progress bar on stderr, if it is a terminal.
    warn : callable
        Called with one line for each file left out.
    origin : str or Path, optional
        Where relative paths missing from the current folder are read from (:func:`ser.corpus.catalog.locate`).
    copies_out : str or Path, optional
        Where to write the features of each copy of ``features.augment`` of every file in the table (a table of the
        same columns, ``speaker`` each copy's pseudo-speaker, :func:`ser.features.augment.copy_rows`; no rows
        without copies), cached as files are, by their content and perturbation.

    Returns
    -------
    int
        How many files and copies were computed (the others came from the cache).

    Raises
    ------
    ExtractError
        No file is left.
    """
    names = feature_names(params)
    cache = FeatureCache(cache_dir, params, sample_rate, len(names))
    computed, failures = compute_missing(catalog_rows, params, sample_rate, cache, workers, progress, origin)
    for failure in failures:
        warn(f"warning: {failure}; it is left out of the features table (re-run the ingest stage if it changed)")
    kept = [row for row in catalog_rows if cache.has(row["sha256"])]
    if catalog_rows and not kept:
        raise ExtractError(
            f"no file's features could be computed ({len(failures)} failed, e.g. {failures[0]}); "
            "re-run the ingest stage, or check features.* in params.yaml"
        )
    write_feature_table(out, kept, names, cache)
    if copies_out is None:
        return computed
    copies = copy_rows(kept, params.augment.copies, params.augment.seed)
    computed_copies, failures = compute_missing(copies, params, sample_rate, cache, workers, progress, origin)
    for failure in failures:
        warn(f"warning: a copy of {failure}; it is left out of the copies table")
    write_feature_table(copies_out, [row for row in copies if cache.has(row["sha256"])], names, cache)
    return computed + computed_copies
