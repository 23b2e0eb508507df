"""Speech emotion recognition: a small library behind a reproducible DVC pipeline.

Its Python API is :func:`load`: ``ser.load("model").predict(["a.wav"])`` gives what ``ser predict a.wav`` prints.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ser")  # the installed package's metadata (pyproject.toml's version)
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "unknown (not installed)"


def load(model: str = "model"):
    """The model bundle in folder ``model`` (the pipeline writes ``model/``), ready to predict: a
    :class:`ser.inference.predictor.Predictor`, whose ``predict(paths, speaker=None)`` normalises as the model was
    trained, exactly as ``ser predict`` does."""
    from ser.inference.predictor import Predictor  # only when called: the pipeline's stages never pay for it

    return Predictor(model)
