"""A command run with stderr on a pseudo-terminal (as in an interactive shell) and stdout a pipe, for the tests of
progress bars: tqdm draws only on a terminal, and a pty's size is set, since tqdm draws nothing 0 columns wide."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios


def run_with_stderr_on_a_terminal(command: list[str], timeout: float = 300, **options) -> tuple[int, str, str]:
    """``(exit code, stdout, what the terminal showed)`` of ``command``; ``options`` go to :class:`subprocess.Popen`
    (e.g. ``cwd``, ``env``)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a terminal's size, as a shell's
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal, stdin=subprocess.DEVNULL, **options)
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal's other end closed: the process has ended
            break
        if not chunk:
            break
        seen += chunk
    stdout = process.stdout.read().decode()
    process.stdout.close()
    os.close(controller)
    return process.wait(timeout=timeout), stdout, seen.decode(errors="replace")
