"""Speech emotion recognition: a small library behind a reproducible DVC pipeline."""
import os
from pathlib import Path

# librosa compiles numba functions at import; cache them where this user can write,
# so only the first run on a machine pays for compiling (about 20 s here).
os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ser" / "numba")
)
