"""Speech emotion recognition: a small library behind a reproducible DVC pipeline."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ser")  # the installed package's metadata (pyproject.toml's version)
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "unknown (not installed)"
