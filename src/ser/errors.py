"""The base of every error a user can fix from its message: bad input, a wrong parameter; names as messages show
them."""

import re

SHORT_NAME = 120  # characters of a name a message shows


class SerError(Exception):
    """An expected failure; stages and the CLI print its one-line message instead of a traceback."""


def shorten(name: str, limit: int = SHORT_NAME) -> str:
    """``name`` as a message shows it: whole up to ``limit`` characters, else its start and end around
    ``...(N characters)...``."""
    if len(name) <= limit:
        return name
    keep = (limit - 20) // 2
    return f"{name[:keep]}...({len(name) - 2 * keep} characters)...{name[-keep:]}"


# C0 and C1 controls (line feed, carriage return, escape, ...) and the Unicode line and paragraph separators
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with every control character written as its escape (``\\n``, ``\\x1b``, ``\\u2028``), so a name
    printed or logged never starts a line of its own nor moves a terminal's cursor."""
    return _CONTROLS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
