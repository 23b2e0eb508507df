"""Files: atomic outputs (written under a temporary name, renamed into place), content digests (of files and of
the code that makes them), records read back and the per-machine cache folder.

A stage killed mid-write leaves at most a ``.tmp`` file behind, never a
half-written output that DVC could cache.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def user_cache_dir() -> Path:
    """Where ser keeps what it derives once per machine: ``$SER_CACHE``, else ``$XDG_CACHE_HOME/ser``
    (``~/.cache/ser``)."""
    if os.environ.get("SER_CACHE"):
        return Path(os.environ["SER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ser"


def use_writable_numba_cache() -> None:
    """Let numba cache librosa's compiled functions where this user can write, unless NUMBA_CACHE_DIR is set.

    They compile on first use (about 20 s on a fresh machine), so a machine pays that once. Called by
    ``ser explore`` before librosa is imported: the library itself changes no environment.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    for folder in (user_cache_dir() / "numba", Path(tempfile.gettempdir()) / "ser" / "numba"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
            return
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="ser-numba-")


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_digest(*modules: str) -> str:
    """Short hex SHA-256 of the source files of ``modules`` (dotted names), read without importing them (some are
    slow to import): a cache or a folder keyed by it is made afresh when the code that fills it changes."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(importlib.util.find_spec(module).origin).read_bytes())
    return digest.hexdigest()[:16]


def read_record(path: str | Path) -> dict:
    """The JSON object kept in ``path`` (what an earlier run recorded), or an empty dict when there is no readable
    one: a missing or damaged record only means the work is done again."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def stat_key(status: os.stat_result) -> str:
    """A file's identity and version as the file system reports them, without reading it.

    Device and inode name the file; size, modification and status-change times (ns) change
    whenever its content does. The status-change time cannot be set back by tools such as
    ``touch -d`` or ``cp -p``, so a rewrite that keeps size and mtime still changes the key.
    """
    return f"{status.st_dev}:{status.st_ino}:{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}"


def sha256_kept(path: str | Path, kept: dict | None) -> dict:
    """``{"stat": stat_key, "sha256": digest}`` of ``path``, reusing ``kept``'s digest while its stat key holds."""
    key = stat_key(os.stat(path))
    if kept and kept.get("stat") == key and kept.get("sha256"):
        return {"stat": key, "sha256": kept["sha256"]}
    return {"stat": key, "sha256": sha256_of(path)}


def current_umask() -> int:
    """The process's file mode creation mask, from /proc (reading it there changes nothing another thread sees);
    where /proc is not mounted, by setting it and setting it back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The file gets the mode any new file gets (0666 less the umask: 0644 by default), not mkstemp's 0600, so
    whoever may read the folder may read the output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~current_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it replaces ``path``.

    The folder gets the mode any new folder gets (0777 less the umask: 0755 by default), not mkdtemp's 0700.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~current_umask())
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | Path, data) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_rows(path: str | Path, columns, rows: list[dict]) -> None:
    """Write ``rows`` as CSV in ``columns`` order, atomically, without importing pandas (about half a second): the
    bytes :func:`write_csv` writes for the same table (pandas' csv writer, each value as ``str`` gives it) when each
    column holds values of one type, str, int or float (a missing key: an empty field)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if row.get(column) is None else str(row[column]) for column in columns] for row in rows)


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV without the index, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
