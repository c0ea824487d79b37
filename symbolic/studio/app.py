"""The studio's FastAPI app: the static page and the JSON API it shares with scripts.

    GET  /                      the page (static/index.html, studio.js, studio.css)
    GET  /api/runs              the runs and what each offers
    POST /api/upload            multipart field `file` -> {"ok": true, "id", "name", ...}
    POST /api/generate          JSON settings -> {"ok": true, "samples": [{id, mid_url, ...}]}
    POST /api/interpolate       {"run", "a", "b", "steps"} (a VAE run)
    POST /api/transcribe        {"run", "audio"} (a transcriber run)
    POST /api/keep              {"id"} -> {"ok": true, "files": [...]} in the output folder
    GET  /files/{id}.{mid,wav,png}

Every error is a JSON `{"ok": false, "error": "<one line>"}`: 4xx for what the request got
wrong, 500 for a bug (the server keeps serving either way). Handlers are plain functions, which
Starlette runs in its thread pool; the studio's lock queues the model calls among them.
"""

from __future__ import annotations

import socket
import time
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from symbolic.studio.session import MAX_AUDIO_BYTES, Studio, UploadError

MEDIA = {"mid": "audio/midi", "wav": "audio/wav", "png": "image/png"}
STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}


def _static(name: str) -> str:
    return resources.files("symbolic.studio").joinpath("static", name).read_text("utf-8")


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def _line(err: BaseException) -> str:
    from symbolic.cli import error_line

    return error_line(err, "")


def create_app(studio: Studio) -> FastAPI:
    """The app serving `studio` (a loaded `Studio`)."""
    app = FastAPI(title="symbolic studio", docs_url=None, redoc_url=None)
    page = _static("index.html")

    @app.exception_handler(UploadError)
    def upload_error(request: Request, err: UploadError) -> JSONResponse:
        return _error(str(err), err.status)

    @app.exception_handler(FileNotFoundError)
    def not_found(request: Request, err: FileNotFoundError) -> JSONResponse:
        return _error(_line(err), 404)

    @app.exception_handler(ValueError)
    @app.exception_handler(OSError)
    @app.exception_handler(RuntimeError)
    def user_error(request: Request, err: Exception) -> JSONResponse:
        return _error(_line(err), 400)

    @app.exception_handler(Exception)
    def internal_error(request: Request, err: Exception) -> JSONResponse:
        return _error(f"internal error, {type(err).__name__}: {_line(err)}", 500)

    @app.get("/")
    def index():
        return HTMLResponse(page)

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC:
            return _error(f"no static file {name!r}", 404)
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/api/runs")
    def runs() -> dict:
        return {"ok": True, **studio.info()}

    @app.post("/api/upload")
    async def upload(request: Request, file: UploadFile | None = File(None)):
        if file is None:
            return _error("no file: send it as the multipart field 'file'", 400)
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_AUDIO_BYTES + 65536:  # refuse a huge body before reading it
            return _error(f"{file.filename}: {declared:,} bytes, over the upload limit", 413)
        data = await file.read(MAX_AUDIO_BYTES + 1)
        # in the thread pool: waiting for the lock must not block the event loop
        item = await run_in_threadpool(studio.upload, file.filename or "upload", data)
        return {"ok": True, **item.to_json()}

    @app.post("/api/generate")
    def generate(settings: dict) -> dict:
        started = time.perf_counter()
        items = studio.generate(settings)
        return _samples(items, started)

    @app.post("/api/interpolate")
    def interpolate(body: dict) -> dict:
        started = time.perf_counter()
        items = studio.interpolate(
            str(body.get("run", "")),
            str(body.get("a", "")),
            str(body.get("b", "")),
            int(body.get("steps") or 5),
        )
        return _samples(items, started)

    @app.post("/api/transcribe")
    def transcribe(body: dict) -> dict:
        started = time.perf_counter()
        items = studio.transcribe(str(body.get("run", "")), str(body.get("audio", "")))
        return _samples(items, started)

    @app.post("/api/keep")
    def keep(body: dict) -> dict:
        return {"ok": True, "files": [str(p) for p in studio.keep(str(body.get("id", "")))]}

    @app.get("/files/{name}")
    def files(name: str):
        stem, _, suffix = name.partition(".")
        if suffix not in MEDIA:
            return _error(f"{name}: only .mid, .wav and .png files are served", 404)
        path = studio.file(stem, suffix)
        return FileResponse(path, media_type=MEDIA[suffix], filename=f"{stem}.{suffix}")

    return app


def _samples(items: list, started: float) -> dict:
    seconds = round(time.perf_counter() - started, 3)
    return {"ok": True, "seconds": seconds, "samples": [item.to_json() for item in items]}


def serve(
    run_dirs: list[str | Path] | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    out: str | Path = "studio_kept",
    work_dir: str | Path | None = None,
) -> None:
    """Load (and warm up) the runs of RUN_DIRS and serve the studio at http://HOST:PORT until
    interrupted; kept samples go to `out`, the others to `work_dir` (default: a temporary folder,
    removed at exit). Binds to 127.0.0.1 (this machine only) by default."""
    import tempfile

    import uvicorn

    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    check_address(host, port)  # before the runs load: a taken port fails in a second, not later
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="symbolic-studio-") as scratch:
        # samples not kept go with the scratch folder when the server stops
        studio = Studio(list(run_dirs), out, work_dir=work_dir or scratch)
        print(
            f"studio: {', '.join(studio.runs)} loaded and warmed up in "
            f"{time.perf_counter() - started:.1f} s; open http://{host}:{port}/ (Ctrl-C stops)",
            flush=True,
        )
        uvicorn.run(create_app(studio), host=host, port=port, log_level="warning")


def check_address(host: str, port: int) -> None:
    """Raise ValueError (one line) unless HOST:PORT can be bound now: a port outside 1..65535,
    a host that is not an address of this machine, or a port another program holds."""
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be in 1..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind(infos[0][4])
    except OSError as err:
        raise ValueError(f"cannot serve on {host}:{port}: {err.strerror or err}") from None
