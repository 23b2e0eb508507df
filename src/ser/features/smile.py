"""openSMILE's standard functional feature sets through the ``opensmile`` package.

Two sets, each one vector per file computed by openSMILE from the samples (not from
the shared STFT: openSMILE does its own framing):

* ``egemaps``: eGeMAPS v02, 88 functionals (Eyben et al., IEEE Trans. Affective
  Computing 7(2), 2016), the minimal set designed for affect.
* ``compare``: ComParE 2016, 6373 functionals, the Interspeech ComParE challenge set
  (same descriptors and functionals as the IS13 set).

``opensmile`` is imported only when one of these sets is used, so the default feature
path and ``ser predict`` start without it.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ser.errors import SerError

SETS = {"egemaps": "eGeMAPSv02", "compare": "ComParE_2016"}


class OpenSmileError(SerError, RuntimeError):
    """The opensmile package is missing."""


@cache
def _smile(name: str):
    try:
        import opensmile
    except ImportError:
        raise OpenSmileError(f"feature family {name!r} needs the opensmile package: pip install opensmile") from None
    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, SETS[name]), feature_level=opensmile.FeatureLevel.Functionals
    )


def feature_names(name: str) -> list[str]:
    """openSMILE's names of the set's functionals, in its order."""
    return list(_smile(name).feature_names)


def functionals(name: str, samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The set's functionals of one mono signal, as float64."""
    table = _smile(name).process_signal(np.asarray(samples, dtype=np.float32), sample_rate)
    return table.to_numpy(dtype=np.float64)[0]
