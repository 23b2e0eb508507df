"""Speech emotion recognition: a small library behind a reproducible DVC pipeline.

Its Python API is :func:`load`: ``ser.load("model").predict(["a.wav"])`` gives what ``ser predict a.wav`` prints.
Every error a user can fix from its one-line message is a :class:`SerError`.
"""

from importlib.metadata import PackageNotFoundError, version

from ser.errors import SerError

__all__ = ["DemoModelWarning", "SerError", "load"]

try:
    __version__ = version("ser")  # the installed package's metadata (pyproject.toml's version)
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "unknown (not installed)"


class DemoModelWarning(UserWarning):
    """:func:`load` gave a model trained on the synthetic demo corpus: its predictions on real speech mean nothing."""


def load(model: str = "model", max_seconds: float | None = None):
    """Load the model bundle in folder ``model``, ready to predict.

    A model trained on the synthetic demo corpus (``predictor.record.data.demo``) loads with a
    :class:`DemoModelWarning`: its predictions on real recordings mean nothing.

    Parameters
    ----------
    model : str
        The bundle's folder, as the pipeline's ``bundle`` stage writes it (``model/``: ``model.skops``,
        ``model.json``, ``MODEL_CARD.md``).
    max_seconds : float or None
        The longest recording accepted, read from its header before decoding; a longer one is a ``Failure``.
        None: the bundle's ``audio.max_seconds``.

    Returns
    -------
    ser.inference.predictor.Predictor
        Its ``predict(paths, speaker=None)`` computes features as ``model.json`` configures them and normalises
        them as the model was trained, exactly as ``ser predict`` does.

    Raises
    ------
    SerError
        The folder is not a bundle, or a file in it is damaged, edited or untrusted; the message names it (a
        ``ser.inference.bundle.BundleError``).

    Examples
    --------
    >>> import ser
    >>> [p.emotion for p in ser.load("model").predict(["a.wav", "b.wav"])]  # doctest: +SKIP
    ['happy', 'neutral']
    """
    import warnings

    from ser.inference.bundle import DEMO_WARNING
    from ser.inference.predictor import Predictor  # only when called: the pipeline's stages never pay for it

    predictor = Predictor(model, max_seconds)
    if predictor.record.data.demo:
        warnings.warn(DEMO_WARNING, DemoModelWarning, stacklevel=2)
    return predictor
