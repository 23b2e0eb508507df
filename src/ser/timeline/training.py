"""Training rows for the timeline's model: what the timeline feeds a model, taken from each training clip.

A clip's speech is found (:mod:`ser.timeline.speech`, with ``timeline.vad``), cut into stretches and encoded once
per stretch, as the timeline does a recording (:mod:`ser.timeline.windows`); its rows are the stretch's windows
(``timeline.window`` every ``timeline.hop``) and the stretch whole (the clip trimmed to its speech), all pooled
from that one encoding. A clip in which no speech is found gives no row.

Rows are cached per clip in a folder keyed by everything that decides them (:func:`configuration_key`): the
feature configuration's own key (:func:`ser.features.cache.configuration_key`), the window, hop and speech
settings and the code of the modules that compute them. The cache entry of a clip is named by its audio's
SHA-256, so a clip is encoded once whatever its name, and again only when one of those changes.

With ``features.augment.copies``, each training clip's perturbed copies (:mod:`ser.features.augment`, each copy of
a speaker a pseudo-speaker) give rows the same way, cached by the key :func:`ser.features.augment.copy_rows`
gives them; the model trains on them beside their source speaker's rows, as the clip model does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ser.corpus.audio import load_audio
from ser.features import cache as feature_cache
from ser.features.augment import copy_rows, perturbed_copy
from ser.features.cache import FeatureCache
from ser.files import code_digest
from ser.timeline import speech, windows
from ser.timeline.speech import SAMPLE_RATE, speech_regions
from ser.timeline.windows import Window, WindowFeatures, stretches, windows_in

KEY_COLUMNS = ("file", "speaker", "emotion", "sha256")  # of each row of the windows table, before its features


def clip_rows(features: WindowFeatures, samples: np.ndarray, settings) -> np.ndarray:
    """The training rows of one clip's 16 kHz ``samples``: each stretch of its speech's windows, then the stretch
    whole (``settings``: :class:`ser.config.TimelineParams`); no row when no speech is found."""
    found = []
    for start, end in stretches(speech_regions(samples, settings.vad)):
        piece = samples[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
        found.append(
            features(piece, start, [*windows_in(start, end, settings.window, settings.hop), Window(start, end)])
        )
    return np.vstack(found) if found else np.zeros((0, len(features.order)))


def configuration_key(feature_params, sample_rate: int, settings) -> str:
    """Hash of everything that decides a clip's rows: the features' configuration key, the window, hop and speech
    settings, and the code of the modules that find, cut and pool the speech."""
    text = json.dumps(
        [
            feature_cache.configuration_key(feature_params, sample_rate),
            settings.window,
            settings.hop,
            asdict(settings.vad),
            code_digest(speech.__name__, windows.__name__, __name__),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class WindowCache(FeatureCache):
    """A clip's rows (any number, none included) as raw little-endian float64, by audio content hash."""

    def __init__(self, root: str | Path, feature_params, sample_rate: int, settings, width: int):
        self.folder = Path(root) / configuration_key(feature_params, sample_rate, settings)
        self.width = width
        self._shards = set()

    def has(self, sha256: str) -> bool:
        try:
            return self.path(sha256).stat().st_size % (8 * self.width) == 0
        except OSError:
            return False

    def load(self, sha256: str) -> np.ndarray:
        return super().load(sha256).reshape(-1, self.width)


def window_table(
    clips: list[dict], feature_params, sample_rate: int, settings, cache_root, progress: bool = False
) -> tuple:
    """The windows table of ``clips`` (catalogue rows: ``file``, ``path``, ``speaker``, ``emotion``, ``sha256``),
    the same of their perturbed copies (``feature_params.augment``; ``speaker`` each copy's pseudo-speaker, no row
    without copies), and how many clips and copies were encoded (the rest came from the cache). A table is
    :data:`KEY_COLUMNS` then one column per feature, one row per :func:`clip_rows` row, in catalogue order."""
    from ser.features.extractor import FeatureExtractor

    extractor = FeatureExtractor(feature_params, sample_rate)
    cache = WindowCache(cache_root, feature_params, sample_rate, settings, len(extractor.names))
    augment = feature_params.augment
    copies = copy_rows(clips, augment.copies, augment.seed)
    entries = [*clips, *copies]
    if progress:
        from ser.progress import progress_bar

        entries = progress_bar(entries, desc="windows")
    features, computed, blocks = None, 0, []
    for entry in entries:
        if not cache.has(entry["sha256"]):
            features = features or WindowFeatures(extractor)
            samples = load_audio(entry["path"], SAMPLE_RATE)
            if "perturbation" in entry:  # a copy
                samples = perturbed_copy(samples, entry["perturbation"], SAMPLE_RATE)
            cache.store(entry["sha256"], clip_rows(features, samples, settings))
            computed += 1
        blocks.append(cache.load(entry["sha256"]))
    tables = _table(clips, blocks[: len(clips)], extractor.names), _table(copies, blocks[len(clips) :], extractor.names)
    return *tables, computed


def _table(entries: list[dict], blocks: list[np.ndarray], names: list[str]):
    import pandas as pd

    keys = [[entry[key] for key in KEY_COLUMNS] for entry, rows in zip(entries, blocks) for _ in range(len(rows))]
    values = np.vstack(blocks) if blocks else np.zeros((0, len(names)))
    return pd.concat([pd.DataFrame(keys, columns=list(KEY_COLUMNS)), pd.DataFrame(values, columns=names)], axis=1)
