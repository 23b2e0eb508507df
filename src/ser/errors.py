"""The base of every error a user can fix from its message: bad input, a wrong parameter."""

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
