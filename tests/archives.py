"""Hostile archives for tests (and benchmarks): zips with entries that cannot be written, tars with huge headers."""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import tarfile
import zipfile
from pathlib import Path

from tests.audiofiles import GOOD_RAVDESS

LONG_NAME = "Audio_Speech/" + "n" * 300 + ".wav"  # past the 255 bytes a file name may have
OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": functools.partial(lzma.open, preset=0), ".tar": open}
# (xz preset 0: a 256 KiB dictionary, so reading it needs little memory of its own)


def awkward_zips(speech16k: Path, folder: Path) -> dict[str, tuple[Path, dict[str, str]]]:
    """Two zips of the :data:`GOOD_RAVDESS` files (under ``Audio_Speech/``) plus entries that cannot be written:
    name -> (archive, refused entry -> expected reason). The long name is refused under its shortened form."""
    from ser.errors import shorten

    folder.mkdir(parents=True, exist_ok=True)
    audio = (speech16k / GOOD_RAVDESS[0]).read_bytes()
    cases = {
        "long name": ([(LONG_NAME, audio)], {shorten(LONG_NAME): "cannot be written here (File name too long)"}),
        "a file and a folder of one name": (
            [
                ("Audio_Speech/a.wav", audio),
                ("Audio_Speech/a.wav/deeper/x.wav", audio),
                ("Audio_Speech/b/deeper/x.wav", audio),
                ("Audio_Speech/b", audio),
            ],
            {
                "Audio_Speech/a.wav/deeper/x.wav": (
                    "cannot be written: another entry is a file where its path has a folder"
                ),
                "Audio_Speech/b": "another entry already has this path",
            },
        ),
    }
    made = {}
    for name, (extra, refused) in cases.items():
        archive = folder / f"{name.replace(' ', '_')}.zip"
        with zipfile.ZipFile(archive, "w") as bundle:
            for good in GOOD_RAVDESS:
                bundle.write(speech16k / good, f"Audio_Speech/{good}")
            for entry, data in extra:
                bundle.writestr(entry, data)
        made[name] = (archive, refused)
    return made


def long_header_tar(path: Path, size: int, kind: bytes = tarfile.GNUTYPE_LONGNAME) -> Path:
    """A tar (compressed as ``path``'s suffix says) whose first header is a GNU long name (``L``) or pax (``x``)
    header of ``size`` bytes, then one small file; written in blocks, so ``size`` may be hundreds of MB."""
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = kind, size
    member = tarfile.TarInfo("Audio_Speech/small.wav")
    member.size = 3
    with OPENERS[path.suffix](path, "wb") as out:
        out.write(header.tobuf(format=tarfile.GNU_FORMAT))
        block = b"n" * (1 << 20)
        for start in range(0, size, len(block)):
            out.write(block[: size - start])
        out.write(b"\0" * (-size % tarfile.BLOCKSIZE))
        out.write(member.tobuf(format=tarfile.GNU_FORMAT) + b"abc" + b"\0" * (tarfile.BLOCKSIZE - 3))
        out.write(b"\0" * 2 * tarfile.BLOCKSIZE)
    return path
