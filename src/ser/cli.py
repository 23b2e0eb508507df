"""The ``ser`` command: ``ser predict``, ``ser timeline``, ``ser serve``, ``ser explore``, ``ser info`` and
``ser report`` (also ``python -m ser``).

Each subcommand imports its libraries only when it runs, so ``ser predict``
never pays for matplotlib or librosa. Expected failures (a :class:`SerError`)
print one line naming the file and the fix.

Exit codes: 0 success; 1 some paths could not be predicted (the others were
printed); 2 bad usage, or a model bundle or file that cannot be used at all.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
from typing import TextIO

from ser.cores import usable_cores
from ser.errors import SerError, printable

DEFAULT_MODEL = "model"  # the complete bundle the pipeline's bundle stage writes
DEFAULT_PREDICTIONS = "plots/predictions.csv"  # the evaluate stage's per-file test-set predictions
FORMATS = ("table", "json", "csv")
MAX_UPLOAD_MB = 50.0  # ser serve's default body limit: 4.7 minutes of 44.1 kHz 16-bit stereo WAV, 26 of 16 kHz mono
# ser serve's longest recording, and most audio in one request: a compressed file passes the body limit with hours,
# and the default model's features took 5.6 s (up to 17 s on a busy machine) for 119 s of audio on one core, so two
# such requests would hold the prediction pool about that long (bench/hostile.py); 60 s is the page's longest
SERVE_MAX_SECONDS = 60.0
MAX_REQUEST_SECONDS = 60.0
# ser serve's most audio in one POST /timeline: a model of the default architecture labels a long recording at about
# 87x real time in one worker on 2 busy cores (bench/timeline.py), so ten minutes hold a worker for about 7 s and a
# slow or busy machine several times that; ser timeline takes hours
MAX_TIMELINE_SECONDS = 600.0
BODY_TIMEOUT = 60.0  # seconds ser serve waits for a request's whole body
HEADER_TIMEOUT = 10.0  # seconds ser serve waits for a request's headers, from the connection or the last response
QUEUE_TIMEOUT = 10.0  # seconds a request may wait for the prediction pool; beyond, 503 with Retry-After
MAX_CONNECTIONS = 64  # requests ser serve has in progress; beyond, 503
MAX_OPEN_CONNECTIONS = 1000  # open connections, idle ones included (at most half the process's file limit)


class TableWriter:
    """Aligned columns: file, emotion, then one probability column per class."""

    def __init__(self, out: TextIO, classes: list[str], paths: list[str]):
        self.out, self.classes = out, classes
        self.file_width = max([len("file")] + [len(printable(p)) for p in paths])
        self.emotion_width = max([len("emotion")] + [len(c) for c in classes])
        self.widths = [max(5, len(c)) for c in classes]
        cells = [f"{c:>{w}}" for c, w in zip(classes, self.widths)]
        self._line(f"{'file':<{self.file_width}}  {'emotion':<{self.emotion_width}}  " + "  ".join(cells))

    def write(self, prediction) -> None:
        cells = [f"{prediction.probabilities[c]:>{w}.3f}" for c, w in zip(self.classes, self.widths)]
        self._line(
            f"{printable(prediction.file):<{self.file_width}}  {prediction.emotion:<{self.emotion_width}}  "
            + "  ".join(cells)
        )

    def _line(self, text: str) -> None:
        self.out.write(text.rstrip() + "\n")
        self.out.flush()


class JsonLinesWriter:
    """One JSON object per line: ``{"file", "emotion", "probabilities": {class: p}}``, as the HTTP API's."""

    def __init__(self, out: TextIO, classes: list[str], paths: list[str]):
        self.out = out

    def write(self, prediction) -> None:
        self.out.write(json.dumps(prediction.as_dict(digits=6)) + "\n")
        self.out.flush()


class CsvWriter:
    """A header ``file,emotion,<class>...`` then one row per file, control characters in names escaped (one line
    a row)."""

    def __init__(self, out: TextIO, classes: list[str], paths: list[str]):
        self.out, self.classes = out, classes
        self.writer = csv.writer(out, lineterminator="\n")
        self.writer.writerow(["file", "emotion", *classes])

    def write(self, prediction) -> None:
        self.writer.writerow(
            [
                printable(prediction.file),
                prediction.emotion,
                *(f"{prediction.probabilities[c]:.6f}" for c in self.classes),
            ]
        )
        self.out.flush()


WRITERS = {"table": TableWriter, "json": JsonLinesWriter, "csv": CsvWriter}


def to_stderr(message: str) -> None:
    """One line on stderr: control characters in it (a file name's) escaped."""
    print(printable(message), file=sys.stderr, flush=True)


def ready_predictor(model: str, max_seconds: float | None = None):
    """The bundle's :class:`~ser.inference.predictor.Predictor`, BLAS on one thread, a version mismatch reported."""
    from threadpoolctl import threadpool_limits

    from ser.inference.bundle import DEMO_WARNING
    from ser.inference.inputs import COMMAND_LINE
    from ser.inference.predictor import Predictor, version_warning

    predictor = Predictor(model, max_seconds, COMMAND_LINE)
    if predictor.record.data.demo:
        to_stderr(f"warning: {DEMO_WARNING}")
    # One file's matrices are small: extra BLAS threads only wait for each other (about 50 ms per
    # file with the default threads, 6 ms with one, on 2 busy cores). Set once every BLAS is loaded.
    threadpool_limits(1)
    warning = version_warning(predictor.record)
    if warning:
        to_stderr(warning)
    return predictor


def run_predict(args: argparse.Namespace) -> int:
    """Predict the emotion of each audio file (folders are searched recursively) with a model bundle, using the
    audio and feature configuration stored in the bundle."""
    from ser.inference.inputs import find_inputs

    files, failures = find_inputs(args.paths)
    for failure in failures:
        to_stderr(f"error: {failure}")
    enroll = enrollment_files(args.enroll)
    predictor = ready_predictor(args.model, args.max_seconds)
    results = predictor.predict(files, args.speaker, warn=to_stderr, progress=not args.quiet, enroll=enroll)
    writer = functools.partial(WRITERS[args.format], sys.stdout, predictor.classes, files)
    return write_results(results, writer, failures, "predicted")


def enrollment_files(paths: list[str]) -> list[str]:
    """The audio files among ``--enroll``'s paths (folders searched as for the files to predict); a path that gives
    none stops the command, as an enrollment recording that cannot be used does (one line naming it)."""
    from ser.inference.inputs import find_inputs

    files, failures = find_inputs(paths)
    if failures:
        raise SerError(f"enrollment recording {failures[0]}")
    return files


class SegmentWriter:
    """``ser timeline``'s output: one row per segment (table or csv: file, start, end, emotion, confidence, the
    speaker with ``speakers``, then each class's probability), or one JSON object per file
    (:meth:`ser.timeline.runtime.Timeline.as_dict`)."""

    def __init__(self, out: TextIO, classes: list[str], form: str, speakers: bool = False):
        self.out, self.classes, self.form, self.speakers = out, classes, form, speakers
        self.writer = csv.writer(out, lineterminator="\n", delimiter="," if form == "csv" else "\t")
        if form != "json":
            speaker = ["speaker"] if speakers else []
            self.writer.writerow(["file", "start", "end", "emotion", "confidence", *speaker, *classes])

    def write(self, timeline) -> None:
        if self.form == "json":
            self.out.write(json.dumps(timeline.as_dict(digits=6)) + "\n")
        for segment in timeline.segments if self.form != "json" else ():
            self.writer.writerow(
                [
                    timeline.file,
                    f"{segment.start:.2f}",
                    f"{segment.end:.2f}",
                    segment.emotion,
                    f"{segment.confidence:.3f}",
                    *([printable(segment.speaker)] if self.speakers else []),
                    *(f"{segment.probabilities[c]:.3f}" for c in self.classes),
                ]
            )
        self.out.flush()


_TIMELINE_JOB: tuple = ()  # (predictor, settings, turns) for the forked workers of run_timeline


def _timeline_of(path: str):
    predictor, settings, turns = _TIMELINE_JOB
    return predictor.timeline(path, settings, turns.get(path))


def timelines(predictor, settings, files: list[str], turns: dict | None = None):
    """Each file's timeline or failure, in order, on every core (one worker process per core, forked); ``turns``:
    the speaker turns of each file that has them."""
    global _TIMELINE_JOB
    workers = min(usable_cores(), len(files))
    predictor.timeline_model  # noqa: B018 - loaded (and checked) once, before the workers fork
    _TIMELINE_JOB = (predictor, settings, turns or {})
    if workers < 2:
        yield from map(_timeline_of, files)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_timeline_of, files)


DASK_CONNECT_TIMEOUT = "30s"
_DASK_PREDICTOR: dict = {}  # a Dask worker's bundle, loaded once: {(folder, model_sha256): Predictor}


def _timeline_on_dask_worker(model: str, digest: str, settings, path: str, turns):
    """One recording's timeline on a Dask worker, with the bundle the client uses (read from the same folder)."""
    from ser.inference.predictor import Predictor

    key = (model, digest)
    if key not in _DASK_PREDICTOR:
        predictor = Predictor(model)
        if predictor.record.model_sha256 != digest:
            raise SerError(
                f"a Dask worker reads another model at {model} (model_sha256 {predictor.record.model_sha256}, "
                f"expected {digest}); give the workers the same bundle folder"
            )
        _DASK_PREDICTOR.clear()
        _DASK_PREDICTOR[key] = predictor
    return _DASK_PREDICTOR[key].timeline(path, settings, turns)


def timelines_on_dask(scheduler: str, model: str, digest: str, settings, files: list[str], turns: dict):
    """Each file's timeline or failure, in order, from the workers of the Dask cluster at ``scheduler``: a few
    recordings per worker in flight. The workers read the files and the bundle by their absolute paths (a shared
    file system)."""
    import dataclasses

    from ser.inference.inputs import Failure

    try:
        from dask.distributed import Client
    except ModuleNotFoundError:
        raise SerError("--scheduler needs dask.distributed: uv sync --locked --extra dask") from None
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise SerError(
            f"--scheduler: cannot reach the Dask scheduler at {scheduler} ({error}); start one (`dask scheduler`) "
            "or leave --scheduler out to use this machine's cores"
        ) from None
    model = os.path.abspath(model)
    with client:

        def submit(path: str):
            return client.submit(
                _timeline_on_dask_worker, model, digest, settings, os.path.abspath(path), turns.get(path), pure=False
            )

        window = 2 * max(1, len(client.scheduler_info()["workers"]))
        pending = [submit(path) for path in files[:window]]
        for index, path in enumerate(files):
            result = pending[index].result()
            pending[index] = None
            if index + window < len(files):
                pending.append(submit(files[index + window]))
            yield (
                dataclasses.replace(result, file=path) if hasattr(result, "segments") else Failure(path, result.reason)
            )


def _header_seconds(path: str) -> float:
    """A file's duration by its header, 0 if it has none readable (its failure comes when it is labelled)."""
    from ser.corpus.audio import AudioError, probe

    try:
        return probe(path).duration
    except AudioError:
        return 0.0


def run_timeline(args: argparse.Namespace) -> int:
    """Label the emotion of each recording over time: its speech cut into segments of one emotion, with their
    start, end, calibrated confidence and probabilities (folders are searched recursively)."""
    import dataclasses

    from ser.config import TimelineParams
    from ser.inference.inputs import find_inputs
    from ser.progress import progress_bar

    files, failures = find_inputs(args.paths)
    for failure in failures:
        to_stderr(f"error: {failure}")
    predictor = ready_predictor(args.model)
    settings = TimelineParams()
    if args.max_seconds:
        settings = dataclasses.replace(settings, max_seconds=args.max_seconds)
    turns = speaker_turns(args.speaker_turns, files, failures) if args.speaker_turns else {}
    files = [path for path in files if path in turns] if args.speaker_turns else files
    writer = functools.partial(
        SegmentWriter, sys.stdout, predictor.classes, args.format, speakers=bool(args.speaker_turns)
    )
    seconds = [_header_seconds(path) for path in files]
    bar = progress_bar(desc="timeline", unit="s", total=round(sum(seconds)), shown=not args.quiet)

    def counted():
        if args.scheduler:
            found = timelines_on_dask(args.scheduler, args.model, predictor.record.model_sha256, settings, files, turns)
        else:
            found = timelines(predictor, settings, files, turns)
        for result, length in zip(found, seconds):
            bar.update(round(length))
            yield result

    status = write_results(counted(), writer, failures, "labelled")
    bar.close()
    return status


def speaker_turns(rttm: str, files: list[str], failures: list) -> dict:
    """The turns of each of ``files`` in the RTTM file ``rttm`` (a malformed one stops the run with its line); a
    file without turns there is reported among ``failures`` and left out."""
    from ser.inference.inputs import Failure
    from ser.timeline.turns import TurnsError, read_rttm, turns_of

    table, found = read_rttm(rttm), {}
    for path in files:
        try:
            found[path] = turns_of(path, table, rttm, alone=len(files) == 1)
        except TurnsError as error:
            failure = Failure(path, str(error))
            failures.append(failure)
            to_stderr(f"error: {failure}")
    return found


def run_serve(args: argparse.Namespace) -> int:
    """Load a model bundle once and serve it: POST /predict (multipart parts named file, optional field speaker),
    POST /timeline (parts named file), GET /health, GET /model, and at / a page to upload or record audio. See
    docs/serve.md."""
    try:
        import uvicorn

        from ser.inference.serve import TimedH11Protocol, create_app, escape_logs
    except ModuleNotFoundError as error:
        raise SerError(
            f"ser serve needs {error.name}, which is not installed: uv sync --locked "
            "--extra serve (or pip install 'ser[serve]')"
        ) from None
    import resource

    check_listening(args.host, args.port)
    predictor = ready_predictor(args.model, args.max_seconds)
    app = create_app(
        predictor,
        max_body_bytes=int(args.max_upload_mb * 1e6),
        body_timeout=args.body_timeout,
        allowed_hosts=(args.host, *args.allow_host),
        max_requests=args.max_connections,
        queue_timeout=args.queue_timeout,
        max_request_seconds=args.max_request_seconds,
        max_timeline_seconds=args.max_timeline_seconds,
    )
    to_stderr(
        f"serving {args.model} ({', '.join(predictor.classes)}): the page at /, the API at POST /predict, "
        "POST /timeline, GET /health, GET /model"
    )
    escape_logs()
    max_open = min(MAX_OPEN_CONNECTIONS, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        http=functools.partial(TimedH11Protocol, header_timeout=args.header_timeout, max_open=max_open),
    )
    return 0


def check_listening(host: str, port: int) -> None:
    """Refuse, before the model loads, an address this process cannot listen on now (a port in use, a host that is
    not this machine's)."""
    import socket

    if not 0 <= port <= 65535:
        raise SerError(f"--port {port} is not a port number; allowed: 0 to 65535 (0 picks a free one)")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:  # as uvicorn binds
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise SerError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); give another --port (0 picks a free "
            "one) or --host"
        ) from None


def run_explore(args: argparse.Namespace) -> int:
    """Write waveform, harmonic/percussive, onset-autocorrelation, mel-spectrogram and MFCC figures of one
    recording as PNG files."""
    from pathlib import Path

    from ser.corpus.audio import probe
    from ser.files import use_writable_numba_cache
    from ser.reports.explore import write_explore_plots

    probe(args.file)  # a file that is not audio is refused before anything is announced
    use_writable_numba_cache()
    out = args.out or str(Path("explore") / Path(args.file).stem)
    compiled = Path(os.environ["NUMBA_CACHE_DIR"])
    first_run = not compiled.is_dir() or not any(compiled.iterdir())
    to_stderr(
        f"explore: drawing the figures of {args.file} into {out}/"
        + (f" (the first run compiles librosa's functions into {compiled}: once, about 20 s)" if first_run else "")
    )
    written = write_explore_plots(
        args.file,
        out,
        sample_rate=args.sample_rate,
        n_fft=args.n_fft,
        hop_length=args.hop_length,
        n_mels=args.n_mels,
        n_mfcc=args.n_mfcc,
    )
    for path in written:
        print(path)
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Describe a model bundle without loading its model: its emotions, the corpus it was trained on and its size,
    whether it is the demo model, its headline metrics, library versions and SHA-256 digests (the bundle's files
    are checked against them first)."""
    from ser.inference.bundle import DEMO_WARNING, read_record
    from ser.inference.card import corpus_size, model_summary

    record = read_record(args.model, "another bundle folder")
    summary = model_summary(record)
    if record.data.demo:
        to_stderr(f"warning: {DEMO_WARNING}")
    if args.format == "json":
        print(json.dumps({"bundle": args.model, **summary}, indent=2))
        return 0
    metrics = summary["metrics"]
    rows = [
        ("bundle", f"{args.model} ({summary['model']}, normalize {summary['normalize']})"),
        ("emotions", f"{', '.join(summary['emotions'])} ({len(summary['emotions'])})"),
        (
            "trained on",
            "demo: the synthetic demo corpus, generated signals, not speech"
            if record.data.demo
            else f"{record.data.source} ({record.data.dataset} naming convention)",
        ),
        ("training files", corpus_size(record)),
        *(
            [("metrics", "none: the train stage's bundle (the bundle stage adds them)")]
            if metrics is None
            else [
                (
                    "test set",
                    f"UAR {metrics['test_uar']:.3f}, one recording at a time {metrics['test_uar_one_clip']:.3f}, "
                    f"accuracy {metrics['test_accuracy']:.3f} ({metrics['test_files']} files)",
                ),
                (
                    "cross-validation",
                    f"UAR {metrics['crossval_uar_mean']:.3f} ± {metrics['crossval_uar_std']:.3f}, one recording "
                    f"{metrics['crossval_uar_one_clip_mean']:.3f} ± {metrics['crossval_uar_one_clip_std']:.3f} "
                    f"({metrics['crossval_folds']} folds)",
                ),
            ]
        ),
        ("versions", ", ".join(f"{name} {v}" for name, v in summary["versions"].items())),
        *((f"sha256 {name}", digest) for name, digest in summary["sha256"].items()),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {printable(value)}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """From per-file predictions (the evaluate stage's, or ser predict --format csv output with the true emotions
    read from the file names by --convention, or given in a column): accuracy and UAR, the most confused
    (actual -> predicted) pairs overall, then each speaker's scores and most confused pairs, lowest UAR first."""
    from ser.reports.error_analysis import confusion_report, read_predictions

    labels = None
    if args.convention:
        from pathlib import Path

        from ser.corpus.conventions import CONVENTIONS, Convention

        convention = CONVENTIONS[args.convention]
        if not isinstance(convention, Convention):
            raise SerError(
                f"--convention {args.convention} reads labels from a manifest CSV, not from file names; give the "
                "true emotions as a column of the predictions (--actual-column)"
            )

        def labels(file: str) -> dict[str, str]:
            return convention.parse(Path(file))

    print(confusion_report(read_predictions(args.predictions, labels, args.actual_column), args.top))
    return 0


def write_results(results, make_writer, failures: list, verb: str) -> int:
    """Write each result with the writer ``make_writer()`` makes for the first one (so a run whose every path fails
    prints no header), report each failure on stderr as it comes, then a summary line if any path failed; the exit
    status (0 or 1)."""
    done, writer = 0, None
    for result in results:
        if not result.ok:
            failures.append(result)
            to_stderr(f"error: {result}")
            continue
        writer = writer or make_writer()
        writer.write(result)
        done += 1
    if failures:
        to_stderr(f"error: {len(failures)} path(s) could not be {verb} (reasons above); {done} file(s) were {verb}")
        return 1
    return 0


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: a number above 0")
    return value


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: a whole number from 1")
    return int(text)


def add_command(commands, name: str, run, help: str, **options) -> argparse.ArgumentParser:
    """A subcommand that runs ``run``, described by its docstring."""
    parser = commands.add_parser(name, help=help, description=" ".join(run.__doc__.split()), **options)
    parser.set_defaults(run=run)
    return parser


def add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="DIR",
        help=f"model bundle folder (default: {DEFAULT_MODEL}, written by dvc repro)",
    )


def add_file_command(commands, name: str, run, help: str, *, formats: str, max_seconds: str):
    """A subcommand over audio files and folders (``predict``, ``timeline``): paths, --model, --format,
    --max-seconds and --quiet, with one exit-status convention."""
    parser = add_command(
        commands,
        name,
        run,
        help,
        epilog="Exit status: 0 every file done; 1 some paths failed (reasons on stderr, the rest printed); "
        "2 bad usage or an unusable model bundle.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="an audio file or a folder of them")
    add_model_option(parser)
    parser.add_argument("--format", choices=FORMATS, default="table", help=formats)
    parser.add_argument(
        "--max-seconds",
        type=positive_number,
        metavar="S",
        help=f"longest recording accepted, in seconds, read from its header {max_seconds}",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar (there is none anyway when stderr is not a terminal)"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    from ser import __version__
    from ser.config import AudioParams, FeatureParams
    from ser.names import CORPUS_CONVENTIONS

    parser = argparse.ArgumentParser(prog="ser", description="Speech emotion recognition: use a trained model.")
    parser.add_argument("--version", action="version", version=f"ser {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = add_file_command(
        commands,
        "predict",
        run_predict,
        "predict the emotion of recordings",
        formats="table (default), json (one object per line) or csv",
        max_seconds="before decoding (default: the bundle's audio.max_seconds)",
    )
    predict.add_argument(
        "--speaker",
        metavar="ID",
        help="with a model that normalises per speaker: all files are of this one speaker "
        "(default: read each file's speaker from its name)",
    )
    predict.add_argument(
        "--enroll",
        nargs="+",
        default=[],
        metavar="PATH",
        help="a few recordings of the speaker in their usual voice (files or folders): every file predicted is "
        "normalised with them as one speaker's recordings; they are never predicted themselves",
    )
    timeline = add_file_command(
        commands,
        "timeline",
        run_timeline,
        "label the emotion of long recordings over time",
        formats="table (default: tab-separated, one row per segment), json (one object per file) "
        "or csv (one row per segment)",
        max_seconds="(default: timeline.max_seconds, 4 hours)",
    )
    timeline.add_argument(
        "--speaker-turns",
        metavar="FILE.rttm",
        help="who speaks when, from a diarization (RTTM: SPEAKER lines, file id = the recording's name without "
        "suffix): each speaker is standardised by their own speech and each segment names its speaker "
        "(default: each recording is one speaker's)",
    )
    timeline.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="label the recordings on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786), whose "
        "workers read the files and the model at the same paths (default: every core of this machine)",
    )

    serve = add_command(
        commands, "serve", run_serve, "serve a model over HTTP: an API and a page that records from the microphone"
    )
    add_model_option(serve)
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument(
        "--max-upload-mb",
        type=float,
        default=MAX_UPLOAD_MB,
        metavar="MB",
        help=f"largest request body accepted, in megabytes; larger ones get 413 (default: {MAX_UPLOAD_MB:g})",
    )
    serve.add_argument(
        "--max-seconds",
        type=positive_number,
        default=SERVE_MAX_SECONDS,
        metavar="S",
        help="longest recording accepted, in seconds, read from its header before decoding; a longer "
        f"part gets 422 (default: {SERVE_MAX_SECONDS:g})",
    )
    serve.add_argument(
        "--max-request-seconds",
        type=positive_number,
        default=MAX_REQUEST_SECONDS,
        metavar="S",
        help="most audio one request may hold, in seconds, by the parts' headers; a part past it gets "
        f"422 (default: {MAX_REQUEST_SECONDS:g})",
    )
    serve.add_argument(
        "--max-timeline-seconds",
        type=positive_number,
        default=MAX_TIMELINE_SECONDS,
        metavar="S",
        help="most audio one POST /timeline may hold, in seconds, by the parts' headers; a part past it gets "
        f"422 (default: {MAX_TIMELINE_SECONDS:g})",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the server answers to besides localhost and IP addresses (repeatable); "
        "requests naming another get 421, against DNS rebinding",
    )
    serve.add_argument(
        "--body-timeout",
        type=positive_number,
        default=BODY_TIMEOUT,
        metavar="S",
        help=f"seconds allowed to receive a request's body; slower ones get 408 (default: {BODY_TIMEOUT:g})",
    )
    serve.add_argument(
        "--header-timeout",
        type=positive_number,
        default=HEADER_TIMEOUT,
        metavar="S",
        help="seconds allowed to send a request's headers, from the connection's opening or its last "
        f"response; slower connections are closed (default: {HEADER_TIMEOUT:g})",
    )
    serve.add_argument(
        "--queue-timeout",
        type=positive_number,
        default=QUEUE_TIMEOUT,
        metavar="S",
        help="seconds a request may wait for the prediction workers; longer gets 503 with Retry-After "
        f"(default: {QUEUE_TIMEOUT:g})",
    )
    serve.add_argument(
        "--max-connections",
        type=positive_int,
        default=MAX_CONNECTIONS,
        metavar="N",
        help="requests in progress at once; requests beyond get 503 (idle connections, and ones still "
        f"sending headers, do not count) (default: {MAX_CONNECTIONS})",
    )

    explore = add_command(commands, "explore", run_explore, "write exploratory figures of one recording as PNG")
    explore.add_argument("file", metavar="FILE", help="an audio file")
    explore.add_argument("--out", metavar="DIR", help="output folder (default: explore/<file name without suffix>)")
    audio, features = AudioParams(), FeatureParams()  # the pipeline's defaults
    explore.add_argument(
        "--sample-rate", type=int, default=audio.sample_rate, help=f"decode at this rate (default: {audio.sample_rate})"
    )
    for option, meaning in (
        ("n_fft", "STFT frame length"),
        ("hop_length", "STFT hop"),
        ("n_mels", "mel bands"),
        ("n_mfcc", "MFCC coefficients"),
    ):
        default = getattr(features, option)
        explore.add_argument(
            f"--{option.replace('_', '-')}", type=int, default=default, help=f"{meaning} (default: {default})"
        )

    info = add_command(commands, "info", run_info, "describe a model bundle: what it predicts, what it was trained on")
    info.add_argument(
        "model",
        nargs="?",
        default=DEFAULT_MODEL,
        metavar="MODEL",
        help=f"model bundle folder (default: {DEFAULT_MODEL}, written by dvc repro)",
    )
    info.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")

    report_parser = add_command(
        commands, "report", run_report, "print which emotions are confused with which, overall and for each speaker"
    )
    report_parser.add_argument(
        "predictions",
        nargs="?",
        default=DEFAULT_PREDICTIONS,
        metavar="PATH",
        help=f"a predictions CSV (default: {DEFAULT_PREDICTIONS}, written by dvc repro), or ser predict "
        "--format csv output with --convention or --actual-column",
    )
    report_parser.add_argument(
        "--convention",
        choices=CORPUS_CONVENTIONS,
        metavar="NAME",
        help="with ser predict output: read each file's true emotion and speaker from its name by this corpus "
        f"naming convention ({', '.join(CORPUS_CONVENTIONS)}; docs/corpora.md)",
    )
    report_parser.add_argument(
        "--actual-column",
        metavar="COLUMN",
        help="with ser predict output: the column holding each file's true emotion (added to the CSV by you)",
    )
    report_parser.add_argument(
        "--top", type=positive_int, default=5, metavar="N", help="pairs listed per section (default: 5)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SerError as error:
        to_stderr(f"error: {_with_path(error, args)}")
        return 2
    except BrokenPipeError:  # output piped into `head` or similar: stop quietly, as a shell reports SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _with_path(error: SerError, args: argparse.Namespace) -> str:
    """Audio errors read after the path (``x.wav is empty; <fix>``) when a file was given."""
    from ser.corpus.audio import AudioError

    if isinstance(error, AudioError) and getattr(args, "file", None):
        from ser.inference.inputs import Failure

        return str(Failure(args.file, str(error)))
    return str(error)
