"""Progress bars on stderr, drawn only when stderr is a terminal and never when asked to be quiet.

Every bar of the project (ingest's files, feature extraction, cross-validation folds, downloads, ``ser predict``)
comes from :func:`progress_bar`, so all of them behave alike: stdout never carries one, a log file or a pipe gets
none, and ``--quiet`` hides them on a terminal too.
"""

from __future__ import annotations

import sys


def progress_bar(
    iterable=None, *, desc: str, unit: str = "file", total: int | None = None, shown: bool = True, **options
):
    """A tqdm bar over ``iterable`` (or updated by hand, up to ``total``) on stderr; a silent one unless ``shown``
    and stderr is a terminal. It is cleared when done: the caller prints its own summary line."""
    from tqdm import tqdm  # on first use: `ser predict` starts without it

    return tqdm(
        iterable,
        desc=desc,
        unit=unit,
        total=total,
        file=sys.stderr,
        disable=None if shown else True,
        leave=False,
        **options,
    )
