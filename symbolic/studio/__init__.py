"""The local web studio: `symbolic serve RUN_DIR ...` / `symbolic.serve(...)`.

A page to pick a run, generate from scratch, continue an uploaded primer or infill chosen bars
(every sampling setting and hard constraint of `symbolic generate`), see each sample as a piano
roll, listen to it (a FluidSynth WAV), download its MIDI and keep the chosen ones; for a VAE run,
interpolate between two uploads; for a transcriber run, turn an uploaded WAV into MIDI.

Why FastAPI with one static page rather than gradio: the studio is a thin layer over the Python
API, and FastAPI (Starlette + uvicorn) adds only that layer: a small typed JSON API that scripts
use exactly as the page does (`POST /api/upload`, `POST /api/generate`), plain HTML and JS shipped
as package data (no CDN, nothing fetched at run time, no front-end build), and error responses we
shape ourselves (a 4xx `{"ok": false, "error": ...}` naming the problem). gradio would bring a
large front-end bundle, its own queue and event protocol, and an API shaped by its components,
which a real-browser test then has to reach through gradio's generated DOM.

Layers: `session` (the runs, uploads, samples and the lock around the models; no web code),
`app` (the FastAPI routes), `static/` (the page). Nothing imports this room but the CLI and
`symbolic.serve`.
"""

from __future__ import annotations

from symbolic.studio.app import create_app, serve
from symbolic.studio.session import Studio, UploadError

__all__ = ["Studio", "UploadError", "create_app", "serve"]
