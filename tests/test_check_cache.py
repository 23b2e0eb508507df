"""Ingest's check cache: only files that are new or changed, by their stat key, are decoded again."""

import os

from ser.corpus.conventions import CONVENTIONS
from ser.corpus.ingest import CheckCache, ingest
from ser.files import sha256_of
from tests.audiofiles import copy_good_files


def run(corpus, cache_dir, sample_rate=16000):
    cache = CheckCache(cache_dir, sample_rate, 2048)
    result = ingest(
        corpus, CONVENTIONS["ravdess"], ("neutral", "calm"), sample_rate=sample_rate, min_samples=2048, cache=cache
    )
    cache.save()
    return result, cache.computed


def test_only_new_or_changed_files_are_decoded(speech16k, tmp_path):
    corpus, cache_dir = tmp_path / "corpus", tmp_path / "cache"
    good = copy_good_files(speech16k, corpus)
    first, computed = run(corpus, cache_dir)
    assert computed == 4
    again, computed = run(corpus, cache_dir)
    assert computed == 0 and again.catalog.equals(first.catalog)

    link = good[0].with_name("03-01-01-01-01-02-01.wav")
    link.symlink_to(good[0])  # a second name for a known file: not decoded again (and a duplicate)
    changed = good[1]
    before = changed.stat()
    data = bytearray(changed.read_bytes())
    data[-2:] = bytes([data[-2] ^ 0x40, data[-1]])  # one sample, same size...
    changed.write_bytes(bytes(data))
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))  # ...and the old mtime: only the ctime tells
    result, computed = run(corpus, cache_dir)
    assert computed == 1
    rows = result.catalog.set_index("path")
    old = first.catalog.set_index("path").loc[str(changed), "sha256"]
    assert rows.loc[str(changed), "sha256"] == sha256_of(changed) != old
    assert dict(zip(result.rejected["path"], result.rejected["reason"])) == {
        str(link): f"duplicate: same audio as {good[0].relative_to(corpus).as_posix()}"
    }

    _, computed = run(corpus, cache_dir, sample_rate=8000)  # another check configuration starts afresh
    assert computed == 4
