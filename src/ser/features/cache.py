"""The per-file feature cache: one vector per audio content hash, in a folder per feature configuration.

The configuration key (:func:`configuration_key`) hashes everything that decides a file's
vector: the feature params, the sample rate, the source code of the modules that compute
it, the versions of the libraries they run on and the encoder weights' digest
(:func:`library_versions`). Changing any of them starts a new folder, so a cached vector
is never reused for a different computation.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ser.config import FeatureParams
from ser.corpus import audio
from ser.dsp import filters, frames
from ser.features import descriptors, encoder, extractor, families, onnx_graph, smile, stats, weights, whisper
from ser.files import code_digest

# The modules whose code decides a file's vector (decoding included).
FEATURE_CODE = (
    audio,
    filters,
    frames,
    descriptors,
    families,
    stats,
    extractor,
    smile,
    whisper,
    encoder,
    onnx_graph,
    weights,
)


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
    (opensmile; for whisper, the runtime that runs the encoder graph and the digest of the weights it is built
    from: with the params and the code that builds it, they decide the graph).
    """
    import soundfile

    names = ["numpy", "scipy", "soxr", "soundfile"]
    if set(params.families) & set(smile.SETS):
        names.append("opensmile")
    if "whisper" in params.families:
        names.append(encoder.RUNTIME)
    versions = {name: _installed_version(name) for name in names}
    versions["libsndfile"] = soundfile.__libsndfile_version__
    if "whisper" in params.families:
        versions["whisper weights sha256"] = weights.resolve_model(params.whisper.model)[1]
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
    text = json.dumps(
        [
            params.definition(),
            sample_rate,
            library_versions(params),
            code_digest(*(module.__name__ for module in FEATURE_CODE)),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
