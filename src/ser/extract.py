"""Feature extraction over a manifest, in parallel worker processes."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ser.audio import load_audio
from ser.config import FeatureParams
from ser.features import FeatureExtractor
from ser.table import KEY_COLUMNS

_worker_extractor: FeatureExtractor | None = None


def _init_worker(params: FeatureParams, sample_rate: int) -> None:
    global _worker_extractor
    threadpool_limits(1)
    _worker_extractor = FeatureExtractor(params, sample_rate)


def _extract_one(path: str) -> np.ndarray:
    samples = load_audio(path, _worker_extractor.sample_rate, min_samples=_worker_extractor.params.min_samples)
    return _worker_extractor(samples)


def resolve_workers(workers: int) -> int:
    """``0`` means every core."""
    return workers or os.cpu_count() or 1


def extract_features(manifest: pd.DataFrame, params: FeatureParams, sample_rate: int, workers: int = 0) -> pd.DataFrame:
    """The manifest's key columns plus one named column per feature, one row per file."""
    names = FeatureExtractor(params, sample_rate).names
    paths = manifest["path"].tolist()
    with ProcessPoolExecutor(resolve_workers(workers), initializer=_init_worker, initargs=(params, sample_rate)) as pool:
        vectors = list(pool.map(_extract_one, paths, chunksize=8))
    features = pd.DataFrame(np.vstack(vectors) if vectors else np.empty((0, len(names))), columns=names)
    return pd.concat([manifest[list(KEY_COLUMNS)].reset_index(drop=True), features], axis=1)

