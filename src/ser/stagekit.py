"""What every stage script shares: argument parsing and clear one-line failures."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ser.config import Params, load_params
from ser.errors import SerError


def stage_parser(description: str, progress: bool = False) -> argparse.ArgumentParser:
    """An argument parser that already takes ``--params`` (and, for a stage that shows ``progress``, ``--quiet``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    if progress:
        parser.add_argument(
            "--quiet", action="store_true", help="no progress bar (one is drawn on stderr only when it is a terminal)"
        )
    return parser


def origin() -> Path | None:
    """The repository this run started from, where relative ``data.source`` paths point from: DVC sets
    ``DVC_ROOT`` to it, also for an experiment it runs in a temporary copy (``dvc exp run --queue`` or ``--temp``).
    None outside DVC: relative paths then start at the current folder."""
    root = os.environ.get("DVC_ROOT")
    return Path(root) if root else None


def run_stage(main: Callable[[argparse.Namespace, Params], None], parser: argparse.ArgumentParser) -> None:
    """Parse arguments, validate all params, run ``main``; expected errors exit 2 with one line."""
    args = parser.parse_args()
    try:
        main(args, load_params(args.params))
    except SerError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
