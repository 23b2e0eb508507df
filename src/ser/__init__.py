"""Speech emotion recognition: a small library behind a reproducible DVC pipeline.

Its Python API is :func:`load`: ``ser.load("model").predict(["a.wav"])`` gives what ``ser predict a.wav`` prints.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ser")  # the installed package's metadata (pyproject.toml's version)
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "unknown (not installed)"


def load(model: str = "model"):
    """Load the model bundle in folder ``model``, ready to predict.

    Parameters
    ----------
    model : str
        The bundle's folder, as the pipeline's ``bundle`` stage writes it (``model/``: ``model.skops``,
        ``model.json``, ``MODEL_CARD.md``).

    Returns
    -------
    ser.inference.predictor.Predictor
        Its ``predict(paths, speaker=None)`` computes features as ``model.json`` configures them and normalises
        them as the model was trained, exactly as ``ser predict`` does.

    Raises
    ------
    ser.inference.bundle.BundleError
        The folder is not a bundle, or a file in it is damaged, edited or untrusted; the message names it.

    Examples
    --------
    >>> import ser
    >>> [p.emotion for p in ser.load("model").predict(["a.wav", "b.wav"])]  # doctest: +SKIP
    ['happy', 'neutral']
    """
    from ser.inference.predictor import Predictor  # only when called: the pipeline's stages never pay for it

    return Predictor(model)
