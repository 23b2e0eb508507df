"""Speech emotion recognition: a small library behind a reproducible DVC pipeline."""
import os
import tempfile
from pathlib import Path


def _writable_cache_dir(*candidates) -> str:
    """The first candidate folder that exists or can be made and is writable."""
    for candidate in candidates:
        if not candidate:
            continue
        folder = Path(candidate) / "ser" / "numba"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return str(folder)
    return str(Path(tempfile.mkdtemp(prefix="ser-numba-")))


# Only `ser explore` uses librosa, whose numba functions compile on first use (about 20 s
# on a fresh machine); cache them where this user can write, so a machine pays that once.
if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = _writable_cache_dir(
        os.environ.get("XDG_CACHE_HOME"), Path.home() / ".cache", tempfile.gettempdir())
