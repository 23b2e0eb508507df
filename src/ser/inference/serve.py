"""``ser serve``: one model bundle loaded once, behind an HTTP API and a page that records from the microphone.

The API (FastAPI; its schema is at ``/openapi.json``):

* ``POST /predict``: a multipart form with one or more parts named ``file``, an optional
  field ``speaker`` (every file is that speaker's) and optional parts named ``enroll``: enrollment
  recordings of the speaker of every file, which normalise the files as one speaker's recordings and
  are never predicted (an unusable one: 422 naming it). 200 with ``{"predictions": [{"file",
  "emotion", "probabilities"}, ...]}`` in the order sent. The files go through
  :meth:`ser.inference.predictor.Predictor.predict`, as the files of one ``ser predict`` call
  do (same features, same per-speaker normalisation, speakers read from the file names
  unless ``speaker`` is given). A part that is not usable audio (or longer than ``--max-seconds``)
  takes the place of its prediction as ``{"file", "status": 422, "error"}``, the error worded as
  ``ser predict`` words it: 200 when any part was predicted, else 422 with ``{"error", "file",
  "predictions"}`` (the first part's error). A body over the limit: 413, answered before the body
  is read whole; a body not received within ``--body-timeout`` seconds: 408.
  Prediction runs in a pool of one thread per core: concurrent requests queue for it.
* ``POST /timeline``: the same form (parts named ``file``), each a long recording: 200 with ``{"timelines":
  [{"file", "duration", "segments": [...]}, ...]}`` in the order sent, each what ``ser timeline --format json``
  prints for that file (:meth:`ser.inference.predictor.Predictor.timeline`); a part that is not usable audio, or
  that would take the request past ``--max-timeline-seconds`` of audio by the headers, takes its place as
  ``{"file", "status": 422, "error"}``, and 422 with ``{"error", "file", "timelines"}`` when no part was usable.
  An optional part ``speaker_turns``, an RTTM file, gives who speaks when (``ser timeline --speaker-turns``);
  a malformed one is 422 naming its line. It runs in the same pool as ``/predict``.
* Every request: 421 when its ``Host`` is not an IP address, ``localhost`` or a name given with
  ``--allow-host`` (a DNS-rebinding page reaches the server under its own name); 403 for a POST
  whose ``Origin`` is another site (a form on another page posting here).
* ``GET /health``: 200 once the model is loaded (it is loaded before the server listens).
* ``GET /model``: the bundle's ``model.json`` (classes, configuration, training data, metrics).
* ``GET /``: the page (``ser/page/``), every byte of it served from here: no CDN, no build step (its file chooser
  offers :data:`ser.corpus.conventions.AUDIO_SUFFIXES`).
  FastAPI's own documentation pages are switched off, as they load their scripts from a CDN.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import ipaddress
import logging
import math
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.exceptions import RequestValidationError, StarletteHTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from uvicorn.protocols.http.h11_impl import H11Protocol

from ser.cores import usable_cores
from ser.corpus.audio import AudioError, probe
from ser.corpus.conventions import AUDIO_SUFFIXES
from ser.errors import printable, shorten
from ser.inference.bundle import with_digest
from ser.inference.inputs import Failure
from ser.inference.predictor import EnrollmentError, Prediction, Predictor

PAGE = Path(__file__).with_name("page")
log = logging.getLogger("uvicorn.error")  # printed beside uvicorn's own lines


def error_body(error: str, file: str | None = None) -> dict:
    """The body of every 4xx and 5xx answer: what went wrong and, when it concerns one part, its file name."""
    return {"error": error, "file": file}


class Printable(logging.Filter):
    """Log records with control characters escaped (:func:`ser.errors.printable`): a file name, a speaker or a
    request path holding a line break cannot start a forged line of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = printable(record.msg)
        if isinstance(record.args, tuple):  # kept apart: uvicorn's access formatter reads them one by one
            record.args = tuple(printable(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def escape_logs() -> None:
    """Install :class:`Printable` on uvicorn's loggers (its access log and ours)."""
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(Printable())


def create_app(
    predictor: Predictor,
    max_body_bytes: int,
    *,
    body_timeout: float = 60.0,
    allowed_hosts: tuple[str, ...] = (),
    max_requests: int = 64,
    queue_timeout: float = 10.0,
    max_request_seconds: float | None = None,
    max_timeline_seconds: float = 600.0,
) -> FastAPI:
    """The ASGI app serving ``predictor``: request bodies over ``max_body_bytes`` get 413, bodies not received
    within ``body_timeout`` seconds 408; Host names other than ``localhost`` and ``allowed_hosts`` get 421; past
    ``max_requests`` requests in progress, 503. A prediction that cannot start within ``queue_timeout`` seconds
    (the pool busy with others) gets 503 with ``Retry-After``; a part that would take its request past
    ``max_request_seconds`` of audio (by the headers) is refused as that part's failure; ``POST /timeline`` takes at
    most ``max_timeline_seconds`` of audio in a request."""
    app = FastAPI(
        title="ser", summary="Speech emotion recognition with a trained model bundle", docs_url=None, redoc_url=None
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout=body_timeout)
    app.add_middleware(HostGuard, allowed=allowed_hosts)
    app.add_middleware(RequestLimit, max_requests=max_requests)
    page = (PAGE / "index.html").read_bytes().replace(b"AUDIO_SUFFIXES", ",".join(AUDIO_SUFFIXES).encode())
    app.add_middleware(SecurityHeaders, policy=content_security_policy(page))  # added last: runs first
    workers = usable_cores()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="predict")
    free_workers = asyncio.Semaphore(workers)  # a request waits here, in arrival order, never inside the pool
    recorder = (PAGE / "recorder.js").read_bytes()

    async def in_pool(function, *args):
        """``function(*args)`` on a worker of the pool, once one is free; 503 when none is within the queue timeout."""
        try:
            async with asyncio.timeout(queue_timeout):
                await free_workers.acquire()
        except TimeoutError:
            return busy(
                f"the server is busy: this request could not start within {queue_timeout:g} s; send it "
                "again later, or start ser serve with a longer --queue-timeout",
                queue_timeout,
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        finally:
            free_workers.release()

    @app.exception_handler(RequestValidationError)
    async def malformed(request, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in error.errors())
        return JSONResponse(
            error_body(
                f"the form is not what POST {request.url.path} takes ({problems}); send audio files "
                "as multipart/form-data parts named file"
            ),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, error: StarletteHTTPException):  # FastAPI's and the form parser's own refusals
        return JSONResponse(
            error_body(shorten(str(error.detail), 400)), status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request, error: Exception):  # Starlette raises it on after this answer: uvicorn logs it
        return JSONResponse(
            error_body(
                f"the server failed unexpectedly ({type(error).__name__}); the server's log "
                "has the details: please report it"
            ),
            status_code=500,
        )

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return HTMLResponse(page)

    @app.get("/recorder.js", include_in_schema=False)
    def recorder_worklet() -> Response:
        return Response(recorder, media_type="text/javascript")

    @app.get("/health", summary="200 when the model is loaded")
    def health() -> dict:
        return {"status": "ok", "classes": predictor.classes}

    @app.get("/model", summary="The bundle's model.json: classes, configuration, training data, metrics")
    def model() -> dict:
        return with_digest(predictor.record.as_dict())  # as model.json stores it

    @app.post(
        "/predict",
        summary="Predict the emotion of each uploaded recording",
        responses={
            408: {"description": "The body did not arrive within the body timeout"},
            413: {"description": "The body is over the size limit"},
            422: {"description": "No part is usable audio: {error, file, predictions}"},
            503: {"description": "Too busy: the prediction could not start in time (Retry-After)"},
        },
    )
    async def predict(
        file: Annotated[list[UploadFile], File(description="audio files (WAV, FLAC, OGG, AIFF)")],
        speaker: Annotated[str | None, Form(description="one speaker id for every file")] = None,
        enroll: Annotated[
            list[UploadFile] | None,
            File(
                description="enrollment recordings of the speaker of every file: they normalise the files as "
                "one speaker's recordings and are never predicted"
            ),
        ] = None,
    ):
        try:
            results = await in_pool(
                predict_uploads, predictor, file, (speaker or "").strip() or None, max_request_seconds, enroll
            )
        except EnrollmentError as error:
            return JSONResponse(error_body(str(error), error.file), status_code=422)
        if isinstance(results, JSONResponse):
            return results
        return answer([result for _, result in results], "predictions")

    add_timeline_route(app, predictor, in_pool, max_timeline_seconds)
    return app


def add_timeline_route(app: FastAPI, predictor: Predictor, in_pool, max_seconds: float) -> None:
    """``POST /timeline`` (the module's docstring): ``in_pool`` runs the work on the prediction pool."""

    @app.post(
        "/timeline",
        summary="The emotion over time of each uploaded recording: its duration and its segments of speech",
        responses={
            408: {"description": "The body did not arrive within the body timeout"},
            413: {"description": "The body is over the size limit"},
            422: {"description": "No part is usable audio: {error, file, timelines}"},
            503: {"description": "Too busy: the work could not start in time (Retry-After)"},
        },
    )
    async def timeline(
        file: Annotated[list[UploadFile], File(description="audio files (WAV, FLAC, OGG, AIFF)")],
        speaker_turns: Annotated[
            UploadFile | None, File(description="who speaks when: an RTTM file, its file ids the files' names")
        ] = None,
    ):
        from ser.timeline.turns import TurnsError

        try:
            results = await in_pool(timeline_uploads, predictor, file, max_seconds, speaker_turns)
        except TurnsError as error:
            return JSONResponse(error_body(str(error), speaker_turns.filename), status_code=422)
        if isinstance(results, JSONResponse):
            return results
        return answer(results, "timelines", digits=6)


def answer(results: list, key: str, digits: int | None = None) -> dict | JSONResponse:
    """``{key: [...]}``, each part's result as a dict (``as_dict(digits)``) or, for a :class:`Failure`, ``{"file",
    "status": 422, "error"}``; 422 with the first part's ``error`` and ``file`` beside them when every part failed."""
    parts = [result.as_dict(digits) if result.ok else {**result.as_dict(), "status": 422} for result in results]
    if not any(result.ok for result in results):
        return JSONResponse({**error_body(parts[0]["error"], parts[0]["file"]), key: parts}, status_code=422)
    return {key: parts}


def busy(message: str, retry_after: float) -> JSONResponse:
    """503 with ``message`` and a ``Retry-After`` of ``retry_after`` seconds (rounded up)."""
    return JSONResponse(error_body(message), status_code=503, headers={"Retry-After": str(math.ceil(retry_after))})


def content_security_policy(page: bytes) -> str:
    """The page's policy: its own inline script and style (by digest), scripts and requests to this server only,
    recordings played back from blob: URLs, never framed."""

    def digests(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>".encode(), page, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b).digest()).decode()}'" for b in blocks)

    return (
        f"default-src 'none'; script-src 'self' {digests('script')}; style-src {digests('style')}; "
        "connect-src 'self'; media-src blob:; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


class SecurityHeaders:
    """ASGI middleware: every response says ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and the
    page's ``Content-Security-Policy``."""

    def __init__(self, app, policy: str):
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", policy.encode()),
        ]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


class RequestLimit:
    """ASGI middleware: 503 with ``Retry-After`` for a request arriving while ``max_requests`` others are in
    progress. Connections without a request (idle, or still sending headers) do not count: uvicorn never hands
    them to the app, and :class:`TimedH11Protocol` closes them."""

    def __init__(self, app, max_requests: int):
        self.app, self.max_requests, self.in_progress = app, max_requests, 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.in_progress >= self.max_requests:
            message = (
                f"the server is busy: {self.max_requests} requests are in progress; send it again later, or "
                "start ser serve with a larger --max-connections"
            )
            return await busy(message, 1)(scope, receive, send)
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 connection with a deadline for each request's headers and a bound on open connections.

    uvicorn arms its keep-alive timeout only after a response, and disarms it at every byte received, so a
    connection that sends nothing, or trickles its headers, stays open for ever. Here every connection must
    complete a request's headers within ``header_timeout`` seconds of opening or of its last response, else it is
    closed; past ``max_open`` open connections, the one idle the longest (no request in progress) is closed to
    make room. Give it to uvicorn as ``http=functools.partial(TimedH11Protocol, header_timeout=...,
    max_open=...)``.
    """

    def __init__(self, *args, header_timeout: float, max_open: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout, self.max_open = header_timeout, max_open
        self.header_deadline: asyncio.TimerHandle | None = None
        self.waiting_since = 0.0

    @property
    def waiting(self) -> bool:
        """No request in progress: the connection is idle or still sending a request's headers."""
        return self.cycle is None or self.cycle.response_complete

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.start_header_clock()
        if len(self.connections) > self.max_open:
            idle = [c for c in self.connections if getattr(c, "waiting", False) and c is not self]
            oldest = min(idle, key=lambda c: c.waiting_since, default=self)
            oldest.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.start_header_clock()

    def connection_lost(self, exc) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        super().connection_lost(exc)

    def start_header_clock(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
        self.waiting_since = self.loop.time()
        self.header_deadline = self.loop.call_later(self.header_timeout, self.headers_overdue)

    def headers_overdue(self) -> None:
        if self.waiting and not self.transport.is_closing():
            self.transport.close()  # a request in progress is under --body-timeout instead


class HostGuard:
    """ASGI middleware against DNS rebinding and cross-site posts: 421 for a ``Host`` that is neither an IP
    address nor an allowed name (``localhost`` and ``allowed``); 403 for a request other than GET or HEAD whose
    ``Origin`` is not the ``Host`` it was sent to."""

    def __init__(self, app, allowed: tuple[str, ...] = ()):
        self.app, self.allowed = app, {"localhost", *(name.lower() for name in allowed)}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        origin = headers.get(b"origin")
        if host and not self.allows(host):
            message = (
                f"this server does not answer to the name {shorten(host)!r}; use its address, or start "
                "ser serve with --allow-host NAME"
            )
            return await JSONResponse(error_body(message), status_code=421)(scope, receive, send)
        if (
            scope["method"] not in ("GET", "HEAD")
            and origin is not None
            and urlsplit(origin.decode("latin-1")).netloc.lower() != host.lower()
        ):
            message = f"a page of another site ({shorten(origin.decode('latin-1'))}) may not post to this server"
            return await JSONResponse(error_body(message), status_code=403)(scope, receive, send)
        await self.app(scope, receive, send)

    def allows(self, host: str) -> bool:
        name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0]
        try:
            ipaddress.ip_address(name)
            return True  # an address: a rebinding page has a name of its own
        except ValueError:
            return name.lower().rstrip(".") in self.allowed


class BodyRefused(Exception):
    """Raised into the app when a request body passes the limit or the time allowed, to stop it reading on."""


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes``, without reading it whole; 408 for one not
    received within ``timeout`` seconds of the request's start.

    A declared ``Content-Length`` over the limit is refused before the app sees the
    request; a body without one is counted as it arrives and refused at the first chunk
    past the limit (whatever the app makes of the interruption is not sent).
    """

    def __init__(self, app, max_bytes: int, timeout: float = 60.0):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.refuse(scope, receive, send, 413)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        received, over, started, complete = 0, None, False, False

        async def counting_receive():
            nonlocal received, over, complete
            if complete:  # the body is in: what follows (a disconnect) has no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                over = 408
                raise BodyRefused from None
            complete = not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                over = 413
                raise BodyRefused
            return message

        async def guarded_send(message) -> None:
            nonlocal started
            if not over:
                started = True
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self.refuse(scope, receive, send, over)

    async def refuse(self, scope, receive, send, status: int) -> None:
        if status == 408:
            message = (
                f"the request body did not arrive within {self.timeout:g} s; send it again on a faster link, "
                "or start ser serve with a longer --body-timeout"
            )
        else:
            message = (
                f"the request body is over the server's limit of {self.max_bytes:,} bytes; send fewer or "
                "shorter recordings, or start ser serve with a larger --max-upload-mb"
            )
        await JSONResponse(error_body(message), status_code=status)(scope, receive, send)


def predict_uploads(
    predictor: Predictor,
    uploads: list[UploadFile],
    speaker: str | None,
    max_seconds: float | None = None,
    enroll: list[UploadFile] | None = None,
) -> list[tuple[str, Prediction | Failure]]:
    """Each upload's name and result, in the order sent; a failure's path is the upload's name.

    Every upload is written to a file of its own under its own name (``ser predict``
    reads speakers from file names), in a temporary folder removed afterwards. A part that would take the
    request past ``max_seconds`` of audio by the headers is refused unopened (:func:`over_budget`); the
    enrollment recordings ``enroll`` count first.

    Raises
    ------
    ser.inference.predictor.EnrollmentError
        An enrollment recording cannot be used (or would take the request past ``max_seconds``); it is named as sent.
    """
    with (
        saved_uploads(uploads) as (names, paths, named_part),
        saved_uploads(enroll or [], unnamed="enroll part") as (enroll_names, enroll_paths, named_enrollment),
    ):

        def named(text: str) -> str:
            return named_enrollment(named_part(text))

        refused = (
            over_budget(enroll_paths + paths, max_seconds, predictor.max_seconds) if max_seconds is not None else {}
        )
        for path, name in zip(enroll_paths, enroll_names):
            if path in refused:
                raise EnrollmentError(f"enrollment recording {named(str(refused[path]))}", name)
        kept = [path for path in paths if path not in refused]
        try:
            predicted = predictor.predict(
                kept,
                speaker,
                warn=lambda message: log.warning(named(message).removeprefix("warning: ")),
                enroll=enroll_paths,
            )
        except EnrollmentError as error:
            raise EnrollmentError(named(str(error)), named(error.file)) from None
        results = dict(zip(kept, predicted))
        results.update(refused)
    return [
        (
            name,
            Failure(name, named(results[path].reason))
            if isinstance(results[path], Failure)
            else dataclasses.replace(results[path], file=name),
        )
        for name, path in zip(names, paths)
    ]


@contextlib.contextmanager
def saved_uploads(uploads: list[UploadFile], unnamed: str = "part"):
    """``(names, paths, named)``: each upload's name (``{unnamed} N`` when it has none), the file it was written
    to under that name (``ser predict`` reads speakers from file names) in a temporary folder of its own, removed
    afterwards, and a function that puts the names in place of the paths in a text."""
    names = [upload.filename or f"{unnamed} {i + 1}" for i, upload in enumerate(uploads)]
    with tempfile.TemporaryDirectory(prefix="ser-serve-") as scratch:
        paths = []
        for i, (name, upload) in enumerate(zip(names, uploads)):
            path = Path(scratch) / str(i) / safe_file_name(name)
            path.parent.mkdir()
            with open(path, "wb") as out:
                shutil.copyfileobj(upload.file, out)
            paths.append(str(path))

        def named(text: str) -> str:
            for path, name in zip(paths, names):
                text = text.replace(path, name)
            return text

        yield names, paths, named


def timeline_uploads(
    predictor: Predictor, uploads: list[UploadFile], max_seconds: float, rttm: UploadFile | None = None
) -> list:
    """Each upload's :class:`~ser.timeline.runtime.Timeline` or :class:`Failure`, named as sent, in that order. The
    parts may hold ``max_seconds`` of audio in all, by their headers (:func:`over_budget`); a part past it is
    refused unopened. With ``rttm``, each part's speaker turns are its lines (:func:`speaker_turns_of_uploads`)."""
    from ser.config import TimelineParams

    settings = TimelineParams(max_seconds=max_seconds)
    with saved_uploads(uploads) as (names, paths, named):
        refused = over_budget(paths, max_seconds, math.inf, option="--max-timeline-seconds")
        turns = speaker_turns_of_uploads(rttm, names, paths) if rttm is not None else {}
        results = []
        for path in paths:
            given = refused.get(path) or turns.get(path)  # a Failure, the part's speaker turns, or None
            results.append(given if isinstance(given, Failure) else predictor.timeline(path, settings, given))
    return [
        Failure(name, named(result.reason)) if isinstance(result, Failure) else dataclasses.replace(result, file=name)
        for name, result in zip(names, results)
    ]


def speaker_turns_of_uploads(rttm: UploadFile, names: list[str], paths: list[str]) -> dict:
    """Each path's speaker turns in the uploaded RTTM file (the lines whose file id is the part's name without its
    suffix), or its :class:`Failure` when it has none; raises :class:`ser.timeline.turns.TurnsError`, worded with
    the upload's name, for an RTTM file that cannot be read."""
    from ser.timeline.turns import TurnsError, read_rttm, turns_of

    name = rttm.filename or "speaker_turns"
    with saved_uploads([rttm]) as (_, [path], _named):
        try:
            table = read_rttm(path)
        except TurnsError as error:
            raise TurnsError(str(error).replace(path, name)) from None
    found = {}
    for part, saved in zip(names, paths):
        try:
            found[saved] = turns_of(part, table, name, alone=len(paths) == 1)
        except TurnsError as error:
            found[saved] = Failure(saved, str(error))
    return found


def over_budget(
    paths: list[str], max_seconds: float, longest: float, option: str = "--max-request-seconds"
) -> dict[str, Failure]:
    """The parts that would take a request past ``max_seconds`` of audio, in the order sent, by their headers, each
    refused naming ``option`` (the setting that raises the bound). A part whose header cannot be read, or that is
    longer than ``longest`` (one part's limit), counts nothing: predicting it says what is wrong with it."""
    used, refused = 0.0, {}
    for path in paths:
        try:
            seconds = probe(path).duration
        except AudioError:
            continue
        if seconds > longest:
            continue
        if seconds > max_seconds:
            refused[path] = Failure(
                path,
                f"is longer than the {max_seconds:g} s this server takes in one request ({seconds:,.1f} s): split "
                f"it into shorter recordings, or start ser serve with a larger {option}",
            )
        elif used + seconds > max_seconds:
            refused[path] = Failure(
                path,
                f"would take this request past its {max_seconds:g} s of audio "
                f"({seconds:,.1f} s after {used:,.1f} s in the parts before it): send it "
                f"in another request, or start ser serve with a larger {option}",
            )
        else:
            used += seconds
    return refused


def safe_file_name(name: str) -> str:
    """The last component of a client's file name, usable as a file name here (else ``upload``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\0", "")
    return base if base not in ("", ".", "..") and len(base.encode()) <= 200 else "upload"
