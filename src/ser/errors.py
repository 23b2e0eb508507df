"""The base of every error a user can fix from its message: bad input, a wrong parameter."""


class SerError(Exception):
    """An expected failure; stages and the CLI print its one-line message instead of a traceback."""
