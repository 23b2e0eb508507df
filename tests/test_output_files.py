"""Outputs a team can share: modes from the user's umask, and the same bytes from the same training."""

import os
import stat
import time
from contextlib import contextmanager

import pandas as pd
import pytest

from ser.files import atomic_dir, atomic_path, current_umask, write_csv, write_json, write_rows
from ser.inference.bundle import CARD_FILE, INFO_FILE, MODEL_FILE
from tests.bundles import train_bundle


@contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, mask):
    with umask(mask):
        assert current_umask() == mask
        write_json(tmp_path / "metrics" / "m.json", {"uar": 0.5})
        write_csv(tmp_path / "plots" / "t.csv", pd.DataFrame({"a": [1]}))
        with atomic_path(tmp_path / "figure.png") as tmp:
            tmp.write_bytes(b"png")
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "model.json").write_text("{}")
        with atomic_dir(tmp_path / "model") as tmp:  # replacing an existing folder
            (tmp / "model.json").write_text("{}")
    for file in ("metrics/m.json", "plots/t.csv", "figure.png", "model/model.json"):
        assert mode(tmp_path / file) == 0o666 & ~mask, file
    for folder in ("metrics", "plots", "model"):
        assert mode(tmp_path / folder) == 0o777 & ~mask, folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "metrics", "model", "plots"]  # no leftovers


def test_retraining_gives_the_same_bundle_bytes(speech16k, tmp_path):
    """skops stamps each zip entry with its write time (2 s resolution) and names entries after memory addresses
    and random UUIDs: two trainings seconds apart must still write the same bytes."""
    with umask(0o022):
        first = train_bundle(speech16k, tmp_path / "first")
        time.sleep(2.1)
        second = train_bundle(speech16k, tmp_path / "second")
    for name in (MODEL_FILE, INFO_FILE):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert not (first / CARD_FILE).exists()
    assert mode(first) == 0o755 and {mode(path) for path in first.iterdir()} == {0o644}


def test_rows_are_written_as_pandas_writes_the_same_table(tmp_path):
    awkward = ["plain", "a,comma", 'a "quote"', "a\nnewline", " spaced ", "", "ünï", "01"]
    rows = [
        {"text": text, "whole": index * 7919, "real": real, "sometimes": None if index % 3 else f"x{index}"}
        for index, (text, real) in enumerate(
            zip(awkward, [0.1, 1e-05, 3.0, 123456.789, 2.5e16, 1 / 3, 299.999999, 0.0])
        )
    ]
    columns = ["text", "whole", "real", "sometimes"]
    write_rows(tmp_path / "rows.csv", columns, rows)
    write_csv(tmp_path / "pandas.csv", pd.DataFrame(rows, columns=columns))
    assert (tmp_path / "rows.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
