"""Corpus sources given as an http(s) URL or a local archive: fetched once, unpacked safely.

:func:`source_kind` tells what a ``data.source`` is: the demo corpus, a URL, a local
archive (by its suffix) or a folder or manifest CSV read in place.
:func:`download` keeps one copy of each URL's archive in a downloads folder, written
under a temporary name and renamed when complete, checked against a SHA-256 when
one is given. :func:`extract_archive` unpacks a zip or tar archive entry by entry,
writing only regular files and folders inside the destination: entries with an
absolute path or ``..``, links, devices and FIFOs, and entries that cannot be written
here (a name too long, a path through a file) are refused alone with a reason. A tar
long-name or pax header over :data:`MAX_TAR_HEADER` bytes refuses the archive before
:mod:`tarfile` reads it.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import shutil
import stat
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from ser.config import SOURCE_KINDS, DataParams, ParamError
from ser.errors import SerError, shorten
from ser.files import atomic_path, read_record, sha256_kept, stat_key, write_json
from ser.progress import progress_bar

TIMEOUT_SECONDS = 60
BLOCK = 1 << 20
MAX_TAR_HEADER = 1 << 20  # bytes of a GNU long name or pax header; real ones are a few hundred
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class SourceError(SerError, RuntimeError):
    """A URL or archive source cannot be fetched or unpacked; the message says why."""


def is_url(source: str) -> bool:
    """Whether ``source`` is an http(s) URL."""
    return urlsplit(source).scheme in ("http", "https")


def has_archive_suffix(name: str) -> bool:
    """Whether ``name`` ends like a zip or tar archive."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def source_kind(data: DataParams) -> str:
    """``demo``, ``url``, ``archive`` (a local zip/tar file, by its suffix) or ``path`` (read in place).

    :class:`ParamError` for a URL of another scheme, or a ``data.sha256`` for a source it cannot pin.
    """
    source = data.source
    if source == "demo":
        kind = "demo"
    elif is_url(source):
        kind = "url"
    elif "://" in source:
        raise ParamError(
            "data.source",
            f"got {source!r}: scheme {urlsplit(source).scheme!r} is not supported; allowed: {SOURCE_KINDS}",
        )
    else:
        kind = "archive" if has_archive_suffix(source) else "path"
    if data.sha256 is not None and kind not in ("url", "archive"):
        raise ParamError(
            "data.sha256",
            f"got a checksum for data.source {source!r}; allowed: null unless "
            "data.source is a URL or an archive file (.zip, .tar, .tar.gz, ...)",
        )
    return kind


@dataclass(frozen=True)
class Refusal:
    """An archive entry that was not extracted, and why."""

    entry: str
    reason: str


def local_archive(source: str) -> Path:
    """The archive file ``source`` names; :class:`SourceError` if there is none."""
    path = Path(source)
    if not path.is_file():
        raise SourceError(
            f"data.source {source!r} is not an existing archive file; check the path "
            "(relative paths start at the project root)"
        )
    return path


def verify_sha256(path: Path, expected: str | None, kept: dict | None = None) -> dict:
    """``path``'s :func:`ser.files.sha256_kept` record (``kept``'s digest reused while the file is unchanged);
    :class:`SourceError` unless its SHA-256 is ``expected`` (when given)."""
    record = sha256_kept(path, kept)
    if expected is not None and record["sha256"] != expected:
        raise SourceError(
            f"{path} has SHA-256 {record['sha256']}, but data.sha256 is {expected}; fix data.sha256 or the archive"
        )
    return record


def download(
    url: str, folder: Path, *, sha256: str | None = None, progress: bool = True, max_bytes: int | None = None
) -> Path:
    """The archive at ``url`` as a file in ``folder``, downloaded only when needed.

    A download over ``max_bytes`` (``data.max_download_bytes``) is refused: from its
    ``Content-Length`` before any byte is read, else as soon as it streams past the limit.

    With ``sha256`` a kept copy that matches is used without network access, and a
    fresh download that does not match is deleted and refused. Without it a kept
    copy is revalidated with the server (ETag / Last-Modified) and fetched again
    only when the server says it changed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", unquote(PurePosixPath(urlsplit(url).path).name)) or "download"
    target = folder / f"{hashlib.sha1(url.encode()).hexdigest()[:10]}-{name}"
    record = target.with_name(target.name + ".json")
    if target.is_file() and sha256 is not None and sha256_kept(target, read_record(record))["sha256"] == sha256:
        return target
    validators = _kept_validators(target, record, url) if sha256 is None else {}
    fetched = _fetch(url, target, validators, sha256=sha256, progress=progress, max_bytes=max_bytes)
    if fetched is None:
        return target
    digest, headers = fetched
    write_json(
        record,
        {
            "url": url,
            "sha256": digest,
            "stat": stat_key(target.stat()),
            "etag": headers.get("ETag"),
            "last_modified": headers.get("Last-Modified"),
        },
    )
    if sha256 is None:
        print(f"downloaded {url} (SHA-256 {digest}); set data.sha256 to this value to pin it", file=sys.stderr)
    return target


def _kept_validators(target: Path, record: Path, url: str) -> dict[str, str]:
    """Conditional-request headers for a kept download of ``url``, if there is one."""
    kept = read_record(record)
    if not target.is_file() or kept.get("url") != url:
        return {}
    headers = {}
    if kept.get("etag"):
        headers["If-None-Match"] = kept["etag"]
    if kept.get("last_modified"):
        headers["If-Modified-Since"] = kept["last_modified"]
    return headers


def _fetch(
    url: str,
    target: Path,
    validators: dict[str, str],
    *,
    sha256: str | None,
    progress: bool,
    max_bytes: int | None = None,
) -> tuple[str, http.client.HTTPMessage] | None:
    """Stream ``url`` into ``target`` atomically; None when the server says the kept copy is current."""
    request = urllib.request.Request(url, headers={"User-Agent": "ser-ingest", **validators})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 304 and validators:
            return None
        raise SourceError(f"cannot download data.source {url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"cannot download data.source {url}: {reason}; check the URL and the network") from None
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    max_bytes = max_bytes if max_bytes is not None else sys.maxsize
    too_large = (
        f"data.source {url} is larger than data.max_download_bytes ({max_bytes:,} bytes); refused. Raise "
        "the limit if you trust the source"
    )
    if total is not None and total > max_bytes:
        response.close()
        raise SourceError(f"{too_large} (its Content-Length is {total:,})")
    digest, received = hashlib.sha256(), 0
    try:
        with (
            response,
            atomic_path(target) as tmp,
            open(tmp, "wb") as out,
            progress_bar(
                desc=target.name,
                unit="B",
                unit_scale=True,
                total=total,
                shown=progress,
            ) as bar,
        ):
            for block in iter(lambda: response.read(BLOCK), b""):
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
                if received > max_bytes:
                    raise SourceError(f"{too_large} (more arrived than that)")
            if total is not None and received != total:
                raise SourceError(f"download of {url} stopped after {received} of {total} bytes; run again")
            if sha256 is not None and digest.hexdigest() != sha256:
                raise SourceError(
                    f"{url} has SHA-256 {digest.hexdigest()}, but data.sha256 is {sha256}; "
                    "the file on the server differs from the one pinned: check the URL or update data.sha256"
                )
    except (OSError, http.client.HTTPException) as error:
        raise SourceError(f"download of {url} failed after {received} bytes ({error}); run again") from None
    return digest.hexdigest(), response.headers


@dataclass(frozen=True)
class ArchiveLimits:
    """The most an archive may expand to: bytes of file content and number of entries."""

    max_bytes: int
    max_files: int

    def check(self, archive: Path, destination: Path, sizes: Iterable[int]) -> None:
        """Refuse the archive, before anything is written, when the entries' declared sizes break a limit.

        zipfile and tarfile never return more bytes for an entry than its header declares,
        so the declared sizes bound what extraction writes. ``sizes`` is read lazily and
        abandoned as soon as a limit is passed (a tar is listed by reading it).
        """
        count = total = 0
        for size in sizes:
            count, total = count + 1, total + size
            if count > self.max_files:
                raise SourceError(
                    f"archive {archive} has more than data.max_archive_files ({self.max_files}) "
                    "entries; refused before extraction. Raise the limit if you trust the archive"
                )
            if total > self.max_bytes:
                raise SourceError(
                    f"archive {archive} would expand to more than data.max_archive_bytes "
                    f"({self.max_bytes} bytes); refused before extraction. Raise the limit if "
                    "you trust the archive"
                )
        free = shutil.disk_usage(destination).free
        if total > free:
            raise SourceError(
                f"archive {archive} would expand to {total} bytes but only {free} are free "
                f"where it is extracted ({destination}); free some space"
            )


class HugeTarHeader(Exception):
    """A tar long-name or pax header over :data:`MAX_TAR_HEADER` bytes, met before it was read."""

    def __init__(self, kind: str, size: int):
        super().__init__(f"a {kind} header of {size:,} bytes (at most {MAX_TAR_HEADER:,} are read)")


class BoundedTarInfo(tarfile.TarInfo):
    """A tar header that refuses a long-name or pax header over :data:`MAX_TAR_HEADER` bytes before
    :mod:`tarfile` reads its body whole (it would hold all of it in memory, and put it in messages)."""

    def _proc_member(self, tarfile_):
        if (
            self.type
            in (
                tarfile.GNUTYPE_LONGNAME,
                tarfile.GNUTYPE_LONGLINK,
                tarfile.XHDTYPE,
                tarfile.XGLTYPE,
                tarfile.SOLARIS_XHDTYPE,
            )
            and self.size > MAX_TAR_HEADER
        ):
            long_name = self.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
            raise HugeTarHeader("long-name" if long_name else "pax", self.size)
        return super()._proc_member(tarfile_)


def open_tar(archive: Path) -> tarfile.TarFile | None:
    """The tar (plain, gzip, bzip2 or xz) ``archive`` with :class:`BoundedTarInfo` headers; None if it is no tar."""
    try:
        return tarfile.open(archive, tarinfo=BoundedTarInfo)
    except tarfile.ReadError:
        return None


def extract_archive(archive: Path, destination: Path, limits: ArchiveLimits) -> list[Refusal]:
    """Unpack the zip or tar ``archive`` into ``destination`` within ``limits``; return the refused entries."""
    archive, destination = Path(archive), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, destination, limits)
        bundle = open_tar(archive)
        if bundle is not None:
            with bundle:
                return _extract_tar(bundle, archive, destination, limits)
    except HugeTarHeader as error:
        raise SourceError(f"archive {archive} has {error}; refused: the archive is damaged or hostile") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise SourceError(
            f"archive {archive} is corrupt or truncated ({shorten(str(error))}); download or copy it again"
        ) from None
    raise SourceError(f"{archive} is not a readable zip or tar archive (corrupt, truncated or another format)")


def _safe_relative(name: str) -> PurePosixPath | str:
    """The entry's path inside the archive, or the reason it is unsafe."""
    cleaned = name.replace("\\", "/")
    if "\x00" in cleaned:
        return "name contains a NUL byte"
    if cleaned.startswith("/") or re.match(r"[A-Za-z]:", cleaned):
        return "absolute path"
    parts = [p for p in PurePosixPath(cleaned).parts if p not in (".", "")]
    if ".." in parts:
        return "path leaves the archive folder (..)"
    if not parts:
        return "empty name"
    return PurePosixPath(*parts)


def refuse(refused: list[Refusal], name: str, reason: str) -> None:
    """Record that entry ``name`` was not extracted (its name shortened for messages)."""
    refused.append(Refusal(shorten(name), reason))


def _target(destination: Path, name: str, refused: list[Refusal]) -> Path | None:
    relative = _safe_relative(name)
    if isinstance(relative, str):
        refuse(refused, name, relative)
        return None
    return destination / relative


def _write_entry(open_entry, target: Path, name: str, refused: list[Refusal]) -> None:
    """Copy one regular file out of the archive (``open_entry()`` opens it); refuse it alone on a clash, a path
    that cannot be written here (a name too long, a folder where a file is) or a read error."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = open(target, "xb")
    except FileExistsError:
        return refuse(refused, name, "another entry already has this path")
    except NotADirectoryError:
        return refuse(refused, name, "cannot be written: another entry is a file where its path has a folder")
    except OSError as error:
        return refuse(refused, name, f"cannot be written here ({error.strerror or error})")
    try:
        with open_entry() as entry, out:
            shutil.copyfileobj(entry, out, BLOCK)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, RuntimeError) as error:
        target.unlink(missing_ok=True)
        refuse(refused, name, f"cannot be extracted ({shorten(str(error))})")


def _make_folder(target: Path, name: str, refused: list[Refusal]) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        refuse(refused, name, "another entry already has this path")
    except NotADirectoryError:
        refuse(refused, name, "cannot be written: another entry is a file where its path has a folder")
    except OSError as error:
        refuse(refused, name, f"cannot be written here ({error.strerror or error})")


def _extract_zip(archive: Path, destination: Path, limits: ArchiveLimits) -> list[Refusal]:
    refused: list[Refusal] = []
    with zipfile.ZipFile(archive) as bundle:
        limits.check(archive, destination, (info.file_size for info in bundle.infolist()))
        for info in bundle.infolist():
            target = _target(destination, info.filename, refused)
            if target is None:
                continue
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if stat.S_ISLNK(mode):
                refuse(refused, info.filename, "symbolic link")
            elif kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                refuse(refused, info.filename, "device, FIFO or socket")
            elif info.is_dir() or stat.S_ISDIR(mode):
                _make_folder(target, info.filename, refused)
            else:
                _write_entry(lambda: bundle.open(info), target, info.filename, refused)  # noqa: B023 (called at once)
    return refused


def _extract_tar(bundle: tarfile.TarFile, archive: Path, destination: Path, limits: ArchiveLimits) -> list[Refusal]:
    refused: list[Refusal] = []
    limits.check(archive, destination, (member.size if member.isreg() else 0 for member in bundle))
    for member in bundle:
        target = _target(destination, member.name, refused)
        if target is None:
            continue
        if member.issym() or member.islnk():
            refuse(refused, member.name, f"link to {shorten(member.linkname)!r}")
        elif member.isdir():
            _make_folder(target, member.name, refused)
        elif member.isreg():
            _write_entry(lambda: bundle.extractfile(member), target, member.name, refused)  # noqa: B023 (called at once)
        else:
            refuse(refused, member.name, "device, FIFO or other special file")
    return refused
