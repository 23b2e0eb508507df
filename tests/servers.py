"""`ser serve` as a real process on 127.0.0.1, on a free port it picks itself (``--port 0``)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

STARTED = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


class ServeProcess:
    """``python -m ser serve --model MODEL --port 0 ARGS...``, on the CPUs ``affinity`` if given (its prediction pool
    has a worker per CPU); its log lines accumulate in :attr:`lines`."""

    def __init__(self, model: Path, *args: str, timeout: float = 180, affinity: set[int] | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ser", "serve", "--model", str(model), "--host", "127.0.0.1", "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=None if affinity is None else lambda: os.sched_setaffinity(0, affinity),
        )
        self.lines: list[str] = []
        arrived: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(arrived,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"ser serve did not start within {timeout} s:\n" + "".join(self.lines)) from None
            if line is None:
                raise RuntimeError(f"ser serve exited ({self.process.wait()}):\n" + "".join(self.lines))
            if match := STARTED.search(line):
                self.url = match.group(1)
                return

    def _read(self, arrived: queue.Queue) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            arrived.put(line)
        arrived.put(None)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> int:
        """Stop it as Ctrl-C would and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()
