"""URL and archive sources against a real HTTP server on 127.0.0.1, with archives the tests build."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import stat
import tarfile
import threading
import tracemalloc
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ser.config import DataParams
from ser.corpus.conventions import CONVENTIONS
from ser.corpus.ingest import ingest
from ser.corpus.sources import ArchiveLimits, Refusal, SourceError, download, extract_archive, source_kind
from ser.errors import shorten
from tests.archives import awkward_zips, long_header_tar
from tests.audiofiles import GOOD_RAVDESS
from tests.conftest import assert_one_line

LIMITS = ArchiveLimits(DataParams().max_archive_bytes, DataParams().max_archive_files)  # the defaults


@pytest.mark.parametrize(
    "source,kind",
    [
        ("demo", "demo"),
        ("https://example.org/corpus.zip", "url"),
        ("HTTP://example.org/download?id=3", "url"),
        ("corpus.zip", "archive"),
        ("../data/Corpus.TAR.GZ", "archive"),
        ("x.txz", "archive"),
        ("speech", "path"),
        ("speech/manifest.csv", "path"),
        ("demo.zip/", "path"),
    ],
)
def test_source_kind_tells_urls_archives_and_folders_apart(source, kind):
    assert source_kind(DataParams(source=source)) == kind


class RecordingHandler(SimpleHTTPRequestHandler):
    """Serves a folder; records (method, path, status, user agent) of every response.
    ``/short/...`` lies about its length."""

    def log_request(self, code="-", size="-"):
        self.server.log.append((self.command, self.path, int(code), self.headers.get("User-Agent", "")))

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/short/"):
            body = b"PK" + b"\0" * 998
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * 10))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        if self.path.startswith("/unsized/"):  # no Content-Length: the body ends when the connection closes
            body = (Path(self.directory) / Path(self.path).relative_to("/unsized")).read_bytes()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RecordingHandler, directory=str(root)))
    httpd.log = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.root = root
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def good_zip(speech16k: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name in GOOD_RAVDESS:
            bundle.write(speech16k / name, f"Audio_Speech/{name}")
    return path


def good_tar_gz(speech16k: Path, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for name in GOOD_RAVDESS:
            bundle.add(speech16k / name, f"Audio_Speech/{name}")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def full_downloads(server) -> list[str]:
    """Paths ser's downloader fetched in full (DVC's own requests to check the URL do not count)."""
    return [
        path for method, path, code, agent in server.log if method == "GET" and code == 200 and agent == "ser-ingest"
    ]


@pytest.mark.parametrize("builder,name", [(good_zip, "corpus.zip"), (good_tar_gz, "corpus.tar.gz")])
def test_archive_by_url_is_downloaded_once_extracted_and_ingested(server, speech16k, tmp_path, capfd, builder, name):
    archive = builder(speech16k, server.root / name)
    downloads = tmp_path / "downloads"
    first = download(f"{server.url}/{name}", downloads)
    assert first.read_bytes() == archive.read_bytes()
    shown = capfd.readouterr()
    assert shown.out == "" and hashlib.sha256(archive.read_bytes()).hexdigest() in shown.err  # the SHA-256 to pin
    second = download(f"{server.url}/{name}", downloads)  # revalidated: the server answers 304
    assert second == first and full_downloads(server) == [f"/{name}"]
    assert ("GET", f"/{name}", 304, "ser-ingest") in server.log
    assert sorted(p.name for p in downloads.iterdir()) == sorted([first.name, first.name + ".json"])

    raw = tmp_path / "raw"
    assert extract_archive(first, raw, LIMITS) == []
    result = ingest(raw, CONVENTIONS["ravdess"], ("neutral", "calm"), sample_rate=16000, min_samples=2048)
    assert sorted(result.catalog["file"]) == sorted(f"Audio_Speech/{n}" for n in GOOD_RAVDESS)


def test_changed_archive_on_the_server_is_fetched_again(server, speech16k, tmp_path):
    archive = good_zip(speech16k, server.root / "corpus.zip")
    kept = download(f"{server.url}/corpus.zip", tmp_path)
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("Audio_Speech/notes.txt", "new")
    newer = archive.stat().st_mtime + 10
    os.utime(archive, (newer, newer))
    again = download(f"{server.url}/corpus.zip", tmp_path)
    assert again == kept and again.read_bytes() == archive.read_bytes()
    assert len(full_downloads(server)) == 2


def test_pinned_sha256_is_verified_and_a_kept_match_needs_no_request(server, speech16k, tmp_path):
    archive = good_zip(speech16k, server.root / "corpus.zip")
    url = f"{server.url}/corpus.zip"
    download(url, tmp_path, sha256=sha256(archive))
    download(url, tmp_path, sha256=sha256(archive))
    assert len(server.log) == 1


def test_wrong_sha256_refuses_the_download_and_keeps_nothing(server, speech16k, tmp_path):
    good_zip(speech16k, server.root / "corpus.zip")
    with pytest.raises(SourceError, match="differs from the one pinned"):
        download(f"{server.url}/corpus.zip", tmp_path / "downloads", sha256="0" * 64)
    assert list((tmp_path / "downloads").iterdir()) == []


def test_missing_url_and_cut_download_are_clear_errors_that_leave_no_file(server, tmp_path):
    downloads = tmp_path / "downloads"
    with pytest.raises(SourceError, match="HTTP 404"):
        download(f"{server.url}/nothing.zip", downloads)
    with pytest.raises(SourceError, match=r"stopped after 1000 of 10000 bytes|failed after 1000 bytes"):
        download(f"{server.url}/short/corpus.zip", downloads)
    assert list(downloads.iterdir()) == []


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="cannot download data.source http://127.0.0.1:9/x.zip"):
        download("http://127.0.0.1:9/x.zip", tmp_path)


def _zip_entry(name: str, mode: int, data: bytes = b"") -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info, data


def test_malicious_zip_entries_are_refused_and_good_ones_extracted(speech16k, tmp_path):
    archive = good_zip(speech16k, tmp_path / "evil.zip")
    audio = (speech16k / GOOD_RAVDESS[0]).read_bytes()
    with zipfile.ZipFile(archive, "a") as bundle:
        for info, data in [
            _zip_entry("../escaped.wav", stat.S_IFREG | 0o644, audio),
            _zip_entry("/tmp/absolute.wav", stat.S_IFREG | 0o644, audio),
            _zip_entry("C:\\windows.wav", stat.S_IFREG | 0o644, audio),
            _zip_entry("Audio_Speech/sub/../../../../outside.wav", stat.S_IFREG | 0o644, audio),
            _zip_entry("Audio_Speech/link.wav", stat.S_IFLNK | 0o777, b"/etc/passwd"),
            _zip_entry("Audio_Speech/device.wav", stat.S_IFCHR | 0o644),
        ]:
            bundle.writestr(info, data)
    destination = tmp_path / "out" / "raw"
    refused = {r.entry: r.reason for r in extract_archive(archive, destination, LIMITS)}
    assert refused == {
        "../escaped.wav": "path leaves the archive folder (..)",
        "/tmp/absolute.wav": "absolute path",
        "C:\\windows.wav": "absolute path",
        "Audio_Speech/sub/../../../../outside.wav": "path leaves the archive folder (..)",
        "Audio_Speech/link.wav": "symbolic link",
        "Audio_Speech/device.wav": "device, FIFO or socket",
    }
    extracted = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file())
    assert extracted == sorted(f"Audio_Speech/{n}" for n in GOOD_RAVDESS)
    assert sorted(p.name for p in tmp_path.rglob("*.wav")) == sorted(Path(n).name for n in GOOD_RAVDESS)
    assert not Path("/tmp/absolute.wav").exists()


def test_malicious_tar_entries_are_refused_and_good_ones_extracted(speech16k, tmp_path):
    archive = tmp_path / "evil.tar.gz"
    audio = (speech16k / GOOD_RAVDESS[0]).read_bytes()
    with tarfile.open(archive, "w:gz") as bundle:
        for name in GOOD_RAVDESS:
            bundle.add(speech16k / name, f"Audio_Speech/{name}")

        def add(name, kind=tarfile.REGTYPE, data=b"", linkname=""):
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, len(data), linkname
            bundle.addfile(info, io.BytesIO(data) if data else None)

        add("../escaped.wav", data=audio)
        add("/tmp/absolute-tar.wav", data=audio)
        add("Audio_Speech/symlink.wav", tarfile.SYMTYPE, linkname="/etc/passwd")
        add("Audio_Speech/hardlink.wav", tarfile.LNKTYPE, linkname="/etc/passwd")
        add("Audio_Speech/char.wav", tarfile.CHRTYPE)
        add("Audio_Speech/block.wav", tarfile.BLKTYPE)
        add("Audio_Speech/fifo.wav", tarfile.FIFOTYPE)
    destination = tmp_path / "raw"
    refused = {r.entry: r.reason for r in extract_archive(archive, destination, LIMITS)}
    assert refused == {
        "../escaped.wav": "path leaves the archive folder (..)",
        "/tmp/absolute-tar.wav": "absolute path",
        "Audio_Speech/symlink.wav": "link to '/etc/passwd'",
        "Audio_Speech/hardlink.wav": "link to '/etc/passwd'",
        "Audio_Speech/char.wav": "device, FIFO or other special file",
        "Audio_Speech/block.wav": "device, FIFO or other special file",
        "Audio_Speech/fifo.wav": "device, FIFO or other special file",
    }
    extracted = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*"))
    assert extracted == sorted(
        ["Audio_Speech", "Audio_Speech/Actor_01", "Audio_Speech/Actor_02"] + [f"Audio_Speech/{n}" for n in GOOD_RAVDESS]
    )
    assert not (tmp_path / "escaped.wav").exists() and not Path("/tmp/absolute-tar.wav").exists()


def test_truncated_and_foreign_archives_are_clear_errors(speech16k, tmp_path):
    whole = good_tar_gz(speech16k, tmp_path / "corpus.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceError, match="corrupt or truncated"):
        extract_archive(tmp_path / "cut.tar.gz", tmp_path / "raw1", LIMITS)
    (tmp_path / "notes.zip").write_text("not an archive")
    with pytest.raises(SourceError, match="is not a readable zip or tar archive"):
        extract_archive(tmp_path / "notes.zip", tmp_path / "raw2", LIMITS)


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for k in range(3):
            bundle.writestr(f"Audio_Speech/zeros{k}.wav", bytes(20 << 20))  # 60 MB expand from about 60 kB
    assert archive.stat().st_size < 1 << 20
    destination = tmp_path / "raw"
    with pytest.raises(SourceError) as caught:
        extract_archive(archive, destination, ArchiveLimits(max_bytes=(60 << 20) - 1, max_files=100))
    assert_one_line(str(caught.value), str(archive), f"data.max_archive_bytes ({(60 << 20) - 1} bytes)")
    assert list(destination.rglob("*")) == []
    assert len(extract_archive(archive, destination, ArchiveLimits(max_bytes=60 << 20, max_files=100))) == 0


def test_tar_with_too_many_entries_is_refused_before_anything_is_written(tmp_path):
    archive = tmp_path / "many.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        for k in range(30):
            info = tarfile.TarInfo(f"Audio_Speech/{k}.wav")
            info.size = 3
            bundle.addfile(info, io.BytesIO(b"abc"))
    destination = tmp_path / "raw"
    with pytest.raises(
        SourceError, match=r"has more than data.max_archive_files \(29\) entries; refused before extraction"
    ):
        extract_archive(archive, destination, ArchiveLimits(max_bytes=1 << 20, max_files=29))
    assert list(destination.rglob("*")) == []
    assert extract_archive(archive, destination, ArchiveLimits(max_bytes=90, max_files=30)) == []
    assert len(list(destination.rglob("*.wav"))) == 30


def test_an_entry_that_cannot_be_written_is_refused_alone_with_its_reason(speech16k, tmp_path):
    for name, (archive, expected) in awkward_zips(speech16k, tmp_path / "zips").items():
        destination = tmp_path / name
        refused = {r.entry: r.reason for r in extract_archive(archive, destination, LIMITS)}
        assert refused == expected, name
        extracted = {p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file()}
        assert {f"Audio_Speech/{n}" for n in GOOD_RAVDESS} <= extracted, name
    assert all(len(entry) <= 120 for entry in refused)


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.bz2", ".tar.xz"])
@pytest.mark.parametrize("kind, word", [(tarfile.GNUTYPE_LONGNAME, "long-name"), (tarfile.XHDTYPE, "pax")])
def test_a_tar_header_over_a_mebibyte_refuses_the_archive_before_it_is_read(tmp_path, suffix, kind, word):
    archive = long_header_tar(tmp_path / f"long{suffix}", 4 << 20, kind)
    tracemalloc.start()
    with pytest.raises(SourceError) as caught:
        extract_archive(archive, tmp_path / "raw", LIMITS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert_one_line(str(caught.value), str(archive), f"{word} header of 4,194,304 bytes", "1,048,576")
    assert peak < 2 << 20  # the header's body was never read into memory
    assert list((tmp_path / "raw").rglob("*")) == []
    if kind == tarfile.GNUTYPE_LONGNAME:  # a long name within the bound is read: its entry refused alone
        fine = long_header_tar(tmp_path / f"fine{suffix}", 1000, kind)
        assert extract_archive(fine, tmp_path / "fine", LIMITS) == [
            Refusal(shorten("n" * 1000), "cannot be written here (File name too long)")
        ]


def test_a_download_over_data_max_download_bytes_is_refused_and_nothing_kept(server, speech16k, tmp_path):
    archive = good_zip(speech16k, server.root / "corpus.zip")
    size = archive.stat().st_size
    downloads = tmp_path / "downloads"
    with pytest.raises(SourceError) as caught:
        download(f"{server.url}/corpus.zip", downloads, max_bytes=size - 1)
    assert_one_line(
        str(caught.value),
        f"data.source {server.url}/corpus.zip",
        f"data.max_download_bytes ({size - 1:,} bytes)",
        f"Content-Length is {size:,}",
    )
    with pytest.raises(SourceError, match=rf"max_download_bytes \({size - 1:,} bytes\).*more arrived than that"):
        download(f"{server.url}/unsized/corpus.zip", downloads, max_bytes=size - 1)  # no Content-Length: counted
    assert list(downloads.iterdir()) == []
    assert download(f"{server.url}/corpus.zip", downloads, max_bytes=size).read_bytes() == archive.read_bytes()
    unsized = download(f"{server.url}/unsized/corpus.zip", downloads, max_bytes=size)  # exactly at the bound
    assert unsized.read_bytes() == archive.read_bytes()
