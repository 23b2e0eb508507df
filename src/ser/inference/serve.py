"""``ser serve``: one model bundle loaded once, behind an HTTP API and a page that records from the microphone.

The API (FastAPI; its schema is at ``/openapi.json``):

* ``POST /predict``: a multipart form with one or more parts named ``file`` and an optional
  field ``speaker`` (every file is that speaker's). 200 with ``{"predictions": [{"file",
  "emotion", "probabilities"}, ...]}`` in the order sent. The files go through
  :meth:`ser.inference.predictor.Predictor.predict`, as the files of one ``ser predict`` call
  do (same features, same per-speaker normalisation, speakers read from the file names
  unless ``speaker`` is given). A part that is not usable audio (or longer than ``--max-seconds``)
  takes the place of its prediction as ``{"file", "status": 422, "error"}``, the error worded as
  ``ser predict`` words it: 200 when any part was predicted, else 422 with ``{"error", "file",
  "predictions"}`` (the first part's error). A body over the limit: 413, answered before the body
  is read whole; a body not received within ``--body-timeout`` seconds: 408.
  Prediction runs in a pool of one thread per core: concurrent requests queue for it.
* Every request: 421 when its ``Host`` is not an IP address, ``localhost`` or a name given with
  ``--allow-host`` (a DNS-rebinding page reaches the server under its own name); 403 for a POST
  whose ``Origin`` is another site (a form on another page posting here).
* ``GET /health``: 200 once the model is loaded (it is loaded before the server listens).
* ``GET /model``: the bundle's ``model.json`` (classes, configuration, training data, metrics).
* ``GET /``: the page (``ser/page/``), every byte of it served from here: no CDN, no build step.
  FastAPI's own documentation pages are switched off, as they load their scripts from a CDN.
"""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ser.errors import shorten
from ser.inference.bundle import with_digest
from ser.inference.inputs import Failure
from ser.inference.predictor import Prediction, Predictor

PAGE = Path(__file__).with_name("page")
log = logging.getLogger("uvicorn.error")  # printed beside uvicorn's own lines


def error_body(error: str, file: str | None = None) -> dict:
    return {"error": error, "file": file}


def create_app(predictor: Predictor, max_body_bytes: int, *, body_timeout: float = 60.0,
               allowed_hosts: tuple[str, ...] = ()) -> FastAPI:
    """The ASGI app serving ``predictor``: request bodies over ``max_body_bytes`` get 413, bodies not received
    within ``body_timeout`` seconds 408; Host names other than ``localhost`` and ``allowed_hosts`` get 421."""
    app = FastAPI(title="ser", summary="Speech emotion recognition with a trained model bundle",
                  docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout=body_timeout)
    app.add_middleware(HostGuard, allowed=allowed_hosts)  # added last: runs first
    pool = ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0)), thread_name_prefix="predict")
    page = (PAGE / "index.html").read_bytes()
    recorder = (PAGE / "recorder.js").read_bytes()

    @app.exception_handler(RequestValidationError)
    async def malformed(request, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in error.errors())
        return JSONResponse(error_body(f"the form is not what POST /predict takes ({problems}); send audio files "
                                       "as multipart/form-data parts named file"), status_code=422)

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

    @app.post("/predict", summary="Predict the emotion of each uploaded recording",
              responses={408: {"description": "The body did not arrive within the body timeout"},
                         413: {"description": "The body is over the size limit"},
                         422: {"description": "No part is usable audio: {error, file, predictions}"}})
    async def predict(file: Annotated[list[UploadFile], File(description="audio files (WAV, FLAC, OGG, AIFF)")],
                      speaker: Annotated[str | None, Form(description="one speaker id for every file")] = None):
        results = await asyncio.get_running_loop().run_in_executor(
            pool, predict_uploads, predictor, file, (speaker or "").strip() or None)
        parts = [{"file": result.file, "status": 422, "error": str(result)} if isinstance(result, Failure)
                 else result.as_dict() for _, result in results]
        if all(isinstance(result, Failure) for _, result in results):
            return JSONResponse({**error_body(parts[0]["error"], parts[0]["file"]), "predictions": parts},
                                status_code=422)
        return {"predictions": parts}

    return app


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
            message = (f"this server does not answer to the name {shorten(host)!r}; use its address, or start "
                       "ser serve with --allow-host NAME")
            return await JSONResponse(error_body(message), status_code=421)(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD") and origin is not None and \
                urlsplit(origin.decode("latin-1")).netloc.lower() != host.lower():
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
            except asyncio.TimeoutError:
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
            message = (f"the request body did not arrive within {self.timeout:g} s; send it again on a faster link, "
                       "or start ser serve with a longer --body-timeout")
        else:
            message = (f"the request body is over the server's limit of {self.max_bytes:,} bytes; send fewer or "
                       "shorter recordings, or start ser serve with a larger --max-upload-mb")
        await JSONResponse(error_body(message), status_code=status)(scope, receive, send)


def predict_uploads(predictor: Predictor, uploads: list[UploadFile],
                    speaker: str | None) -> list[tuple[str, Prediction | Failure]]:
    """Each upload's name and result, in the order sent; a failure's path is the upload's name.

    Every upload is written to a file of its own under its own name (``ser predict``
    reads speakers from file names), in a temporary folder removed afterwards.
    """
    names = [upload.filename or f"part {i + 1}" for i, upload in enumerate(uploads)]
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

        results = list(predictor.predict(paths, speaker, warn=lambda message: log.warning(named(message).removeprefix("warning: "))))
    return [(name, Failure(name, named(result.reason)) if isinstance(result, Failure)
             else dataclasses.replace(result, file=name)) for name, result in zip(names, results)]


def safe_file_name(name: str) -> str:
    """The last component of a client's file name, usable as a file name here (else ``upload``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\0", "")
    return base if base not in ("", ".", "..") and len(base.encode()) <= 200 else "upload"
