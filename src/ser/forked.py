"""Functions run in forked processes, which start with the libraries this process has imported: the fits of the
calibration and cross-validation folds (:mod:`ser.modeling`), and figures drawn while a stage does its other work."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
from collections.abc import Callable, Iterator

from joblib import parallel_config


class ForkedCalls:
    """Functions of no argument (``calls``), each run in a forked process of its own, at most ``processes`` at once
    (0: each in this process, when its result is asked for); a context manager that ends those still running.

    A forked process starts with the libraries this one has imported (a fresh one would import scikit-learn again,
    about 2 s of CPU) and runs joblib's loops in it one step after another (an ensemble's members), so the calls
    keep the cores busy. No helper thread runs here, so this process may meanwhile fork others of its own. The
    caller sets the BLAS threads (:func:`ser.modeling.model.train_model`: one per process, which keeps results
    byte-identical).
    """

    def __init__(self, calls: list[Callable], processes: int):
        self.calls, self.processes = list(calls), processes
        self.running: dict = {}  # pipe end to read -> (index of its call, process)
        self.finished: dict[int, tuple] = {}  # index -> (ok, result or exception)
        self.started = 0
        self._start_more()

    def _start_more(self) -> None:
        while self.started < len(self.calls) and len(self.running) < self.processes:
            receiver, sender = multiprocessing.Pipe(duplex=False)
            process = multiprocessing.get_context("fork").Process(
                target=_send_result, args=(self.calls[self.started], sender), daemon=True
            )
            process.start()
            sender.close()
            self.running[receiver] = (self.started, process)
            self.started += 1

    def results(self) -> Iterator:
        """Each call's result in order, as they come (a call's exception is raised here)."""
        for index, call in enumerate(self.calls):
            if not self.processes:
                yield call()
                continue
            while index not in self.finished:
                for receiver in multiprocessing.connection.wait(list(self.running)):
                    done, process = self.running.pop(receiver)
                    try:
                        self.finished[done] = receiver.recv()
                    except EOFError:  # it died before sending (killed, out of memory)
                        process.join()
                        ended = RuntimeError(f"a forked process ended with exit code {process.exitcode}, no result")
                        self.finished[done] = (False, ended)
                    receiver.close()
                    process.join()
                self._start_more()
            ok, value = self.finished.pop(index)
            if not ok:
                raise value
            yield value

    def __enter__(self) -> ForkedCalls:
        return self

    def __exit__(self, *exc) -> None:
        for receiver, (_, process) in self.running.items():
            process.terminate()
            process.join()
            receiver.close()
        self.running.clear()


def _send_result(call: Callable, sender) -> None:
    with parallel_config(backend="sequential"):  # joblib's loops one step after another: the calls fill the cores
        try:
            outcome = (True, call())
        except BaseException as error:  # noqa: BLE001 - raised again in the process that asked for it
            outcome = (False, error)
    sender.send(outcome)
    sender.close()
