"""The web studio (`symbolic serve`): its JSON API through FastAPI's TestClient, and its page in
a real headless browser (Debian's chromium + chromium-driver through selenium; never a browser
download: selenium is pointed at /usr/bin/chromedriver, so selenium-manager never runs).

One tiny random-init Transformer serves every test: a server on a free port in a thread of this
process, loaded and warmed up once for the module.
"""

from __future__ import annotations

import io
import socket
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mido
import pytest

from symbolic.output.midi import DRUM_CHANNEL
from tests.helpers import (
    CHROMEDRIVER,
    CHROMIUM,
    headless_chromium,
    note_ons,
    synth_available,
    write_run_dir,
    write_test_midi,
)

pytest.importorskip("fastapi", reason="the studio needs the `studio` extra (fastapi, uvicorn)")

TOKENS = 32  # new tokens per test sample: fast, and what the warm-up compiles
CORRUPT = b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff\xff\xffgarbage"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    from symbolic.generation.settings import Sampling
    from symbolic.studio import Studio

    root = tmp_path_factory.mktemp("studio")
    run_dir = write_run_dir(root / "tiny", "transformer")
    return Studio(
        [run_dir], root / "kept", work_dir=root / "work", warm_up=Sampling(num=2, max_tokens=TOKENS)
    )


@pytest.fixture(scope="module")
def client(studio):
    from fastapi.testclient import TestClient

    from symbolic.studio import create_app

    return TestClient(create_app(studio))


@pytest.fixture(scope="module")
def primer(tmp_path_factory) -> Path:
    notes = [(i * 1.0, 1.0, 60 + (i * 2) % 12, 80) for i in range(8)]
    return write_test_midi(
        tmp_path_factory.mktemp("primer") / "primer.mid", [{"program": 0, "notes": notes}]
    )


@pytest.fixture(scope="module")
def server(studio):
    """The studio served by uvicorn on a free port of 127.0.0.1 -> its base URL."""
    import uvicorn

    from symbolic.studio import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(studio), host="127.0.0.1", port=port, log_level="warning")
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/api/runs", timeout=5)
            break
        except OSError:
            time.sleep(0.05)
    yield url
    web.should_exit = True
    thread.join(timeout=10)


# --- the JSON API --------------------------------------------------------------------------


def test_upload_accepts_midi_and_names_the_problem_of_bad_files(client, primer):
    good = client.post("/api/upload", files={"file": ("primer.mid", primer.read_bytes())})
    assert good.status_code == 200 and good.json()["ok"] and good.json()["notes"] == 8
    cases = {
        "notes.txt": (b"just some text", "not a MIDI file"),
        "broken.mid": (CORRUPT, "broken.mid: "),
        "empty.mid": (b"", "empty"),
    }
    for name, (data, reason) in cases.items():
        response = client.post("/api/upload", files={"file": (name, data)})
        assert response.status_code == 400, name
        body = response.json()
        assert body["ok"] is False and reason in body["error"] and name in body["error"]
    missing = client.post("/api/upload", data={"other": "x"})
    assert missing.status_code == 400 and "'file'" in missing.json()["error"]


def test_uploads_too_large_or_too_long_are_refused(client, tmp_path):
    from symbolic.data.convert import MAX_PRIMER_QUARTERS
    from symbolic.studio.session import MAX_UPLOAD_BYTES

    big = b"MThd" + b"\x00" * MAX_UPLOAD_BYTES
    response = client.post("/api/upload", files={"file": ("big.mid", big)})
    assert response.status_code == 413 and "upload limit" in response.json()["error"]
    late = [(MAX_PRIMER_QUARTERS + 10.0, 1.0, 60, 80)]  # a small file, a very long piece
    long = write_test_midi(tmp_path / "long.mid", [{"program": 0, "notes": late}])
    response = client.post("/api/upload", files={"file": ("long.mid", long.read_bytes())})
    assert response.status_code == 400 and "past the limit" in response.json()["error"]


def test_generate_returns_midi_png_and_wav_urls(client, studio):
    from symbolic.music.keys import parse_key

    scale = parse_key("D minor").pitch_classes()
    body = client.post(
        "/api/generate",
        json={"num": 2, "max_tokens": TOKENS, "top_p": 0.95, "key": "D minor", "seed": 3},
    ).json()
    assert body["ok"] and len(body["samples"]) == 2
    for sample in body["samples"]:
        midi = mido.MidiFile(file=io.BytesIO(client.get(sample["mid_url"]).content))
        notes = [m for t in midi.tracks for m in t if m.type == "note_on"]
        pitches = {m.note for m in notes if m.channel != DRUM_CHANNEL}  # drums have no key
        assert pitches and {p % 12 for p in pitches} <= scale  # the key is a hard constraint
        png = client.get(sample["png_url"])
        assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
        if studio.render_audio:
            assert client.get(sample["wav_url"]).content[:4] == b"RIFF"
        else:
            assert sample["wav_url"] is None
    kept = client.post("/api/keep", json={"id": body["samples"][0]["id"]}).json()
    assert kept["ok"] and all(Path(f).is_file() for f in kept["files"])
    assert any(f.endswith(".mid") for f in kept["files"])


def test_generate_takes_the_cli_constraints_programs_polyphony_and_beam(client, tmp_path):
    settings = {"num": 2, "max_tokens": TOKENS, "programs": "0", "max_polyphony": 1, "beam": 2}
    body = client.post("/api/generate", json=settings).json()
    assert body["ok"] and len(body["samples"]) == 2  # the two best beams
    for sample in body["samples"]:
        path = tmp_path / f"{sample['id']}.mid"
        path.write_bytes(client.get(sample["mid_url"]).content)
        midi = mido.MidiFile(path)
        programs = {m.program for t in midi.tracks for m in t if m.type == "program_change"}
        assert programs <= {0}
        onsets = Counter(tick for tick, _ in note_ons(path))
        assert max(onsets.values(), default=1) == 1  # at most one note per onset
    bad = client.post("/api/generate", json={**settings, "programs": "0,x"})
    assert bad.status_code == 400 and "0,x" in bad.json()["error"]


def test_generate_continues_a_primer_and_rejects_bad_settings(client, primer):
    upload = client.post("/api/upload", files={"file": ("primer.mid", primer.read_bytes())})
    body = client.post(
        "/api/generate",
        json={"mode": "continue", "primer": upload.json()["id"], "num": 1, "max_tokens": TOKENS},
    ).json()
    assert body["ok"] and body["samples"][0]["notes"] >= 8  # the primer's notes are kept
    bad = {
        "temperature": (-1, "temperature"),
        "key": ("H major", "H major"),
        "num": (99, "num must be"),
        "top_p": ([1], "bad settings"),
    }
    for field, (value, reason) in bad.items():
        response = client.post("/api/generate", json={"num": 1, "max_tokens": TOKENS, field: value})
        assert response.status_code == 400 and reason in response.json()["error"], field
    nothing = client.post("/api/generate", json={"mode": "continue", "primer": "0" * 12})
    assert nothing.status_code == 400 and "upload it first" in nothing.json()["error"]
    assert client.get("/files/../../etc/passwd").status_code == 404


def test_infill_and_chords_the_run_was_not_trained_for_are_refused(client, primer):
    upload = client.post("/api/upload", files={"file": ("primer.mid", primer.read_bytes())})
    infill = client.post(
        "/api/generate",
        json={"mode": "infill", "primer": upload.json()["id"], "infill_bars": "2-2", "num": 1},
    )
    assert infill.status_code == 400 and "infilling" in infill.json()["error"]
    chords = client.post("/api/generate", json={"chords": "C G Am F", "num": 1})
    assert chords.status_code == 400 and "chord" in chords.json()["error"].lower()


def write_vae_run(run_dir: Path) -> Path:
    """A randomly-initialised tiny VAE run on 2-bar melody segments (the `tiny` preset)."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from symbolic import models
    from symbolic.data import segments
    from symbolic.data.meta import SegmentsMeta, write_meta
    from symbolic.training import checkpoint
    from symbolic.training import config as config_lib

    config = config_lib.resolve("vae", "tiny")
    meta = SegmentsMeta(vocab_size=segments.VOCAB_SIZE, bars=2, melody_program=0)
    model = dataclasses.replace(
        config.model, vocab_size=meta.vocab_size, seq_len=meta.segment_steps
    )
    config = dataclasses.replace(config, model=model)
    tokens = jnp.zeros((1, meta.segment_steps), jnp.int32)
    params = models.build("vae", model).init(jax.random.PRNGKey(0), tokens)["params"]
    run_dir.mkdir(parents=True)
    config.save(run_dir / checkpoint.CONFIG_FILE)
    write_meta(meta, run_dir / checkpoint.META_FILE)
    saver = checkpoint.Checkpoints(run_dir)
    saver.save_best(0, params, {"valid_nll": 0.0})
    saver.close()
    return run_dir


def test_vae_run_interpolates_between_two_uploads(tmp_path, primer):
    from fastapi.testclient import TestClient

    from symbolic.studio import Studio, create_app

    other = write_test_midi(
        tmp_path / "other.mid", [{"program": 0, "notes": [(i, 1.0, 72 - i, 80) for i in range(8)]}]
    )
    studio = Studio([write_vae_run(tmp_path / "vae")], tmp_path / "kept", warm_up=None)
    client = TestClient(create_app(studio))
    assert client.get("/api/runs").json()["runs"][0]["kind"] == "vae"
    ids = [
        client.post("/api/upload", files={"file": (p.name, p.read_bytes())}).json()["id"]
        for p in (primer, other)
    ]
    body = client.post(
        "/api/interpolate", json={"run": "vae", "a": ids[0], "b": ids[1], "steps": 3}
    )
    assert body.status_code == 200, body.json()
    samples = body.json()["samples"]
    assert len(samples) == 3 and all(s["png_url"] for s in samples)
    midi = mido.MidiFile(file=io.BytesIO(client.get(samples[0]["mid_url"]).content))
    assert midi.length > 0
    refused = client.post("/api/generate", json={"run": "vae", "mode": "continue"})
    assert refused.status_code == 400 and "VAE" in refused.json()["error"]


def write_transcriber_run(run_dir: Path) -> Path:
    """A randomly-initialised tiny transcriber run (the `tiny` preset) on default log-mels."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from symbolic import models
    from symbolic.audio.features import FeatureParams
    from symbolic.data.meta import AudioMeta, write_meta
    from symbolic.training import checkpoint
    from symbolic.training import config as config_lib

    features = FeatureParams()
    meta = AudioMeta(
        features.sample_rate, features.hop_length, features.num_bins, features.to_json()
    )
    config = config_lib.resolve("transcriber", "tiny")
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, num_bins=features.num_bins)
    )
    frames = jnp.zeros((1, 64, features.num_bins), jnp.float32)
    params = models.build("transcriber", config.model).init(jax.random.PRNGKey(0), frames)
    run_dir.mkdir(parents=True)
    config.save(run_dir / checkpoint.CONFIG_FILE)
    write_meta(meta, run_dir / checkpoint.META_FILE)
    saver = checkpoint.Checkpoints(run_dir)
    saver.save_best(0, params["params"], {"valid_nll": 0.0})
    saver.close()
    return run_dir


def test_transcriber_run_turns_an_uploaded_wav_into_midi(tmp_path):
    import numpy as np
    from fastapi.testclient import TestClient

    from symbolic.output.render import write_wav
    from symbolic.studio import Studio, create_app

    pytest.importorskip("soundfile", reason="WAV uploads need the audio extra (soundfile)")
    studio = Studio([write_transcriber_run(tmp_path / "ears")], tmp_path / "kept", warm_up=None)
    client = TestClient(create_app(studio))
    seconds = np.arange(16000) / 16000
    tone = np.stack([0.3 * np.sin(2 * np.pi * 440 * seconds)] * 2, axis=1)
    wav = tmp_path / "a4.wav"
    write_wav(wav, tone, 16000)
    upload = client.post("/api/upload", files={"file": ("a4.wav", wav.read_bytes())}).json()
    assert upload["ok"] and upload["kind"] == "audio"
    body = client.post("/api/transcribe", json={"run": "ears", "audio": upload["id"]})
    assert body.status_code == 200, body.json()
    sample = body.json()["samples"][0]
    mido.MidiFile(file=io.BytesIO(client.get(sample["mid_url"]).content))  # opens: a MIDI file
    assert client.get(sample["wav_url"]).content == wav.read_bytes()  # the audio it heard
    broken = client.post("/api/upload", files={"file": ("bad.wav", b"RIFF\0\0\0\0WAVEjunk")})
    assert broken.status_code == 400 and "bad.wav: not a readable WAV" in broken.json()["error"]


def test_concurrent_requests_are_queued_not_crashed(server):
    def generate(seed: int) -> dict:
        import json

        request = urllib.request.Request(
            server + "/api/generate",
            data=json.dumps({"num": 2, "max_tokens": TOKENS, "seed": seed}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(generate, range(3)))
    assert all(r["ok"] and len(r["samples"]) == 2 for r in results)
    ids = {s["id"] for r in results for s in r["samples"]}
    assert len(ids) == 6


# --- the page, in a real browser -------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(
            f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): "
            "sudo apt-get install chromium chromium-driver"
        )
    pytest.importorskip("selenium", reason="needs selenium (the studio extra)")
    downloads = tmp_path_factory.mktemp("downloads")
    driver = headless_chromium(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def _set(driver, field: str, value: str) -> None:
    element = driver.find_element("id", field)
    element.clear()
    element.send_keys(value)


def test_page_generates_two_samples_to_see_hear_and_download(browser, server):
    browser.get(server + "/")
    _wait(browser, lambda d: d.find_element("id", "status").text.startswith("ready"), 30)
    _set(browser, "num", "2")
    _set(browser, "max_tokens", str(TOKENS))
    browser.find_element("id", "generate").click()
    cards = _wait(browser, lambda d: d.find_elements("css selector", "#samples .sample"))
    assert len(cards) == 2 and browser.find_element("id", "error").text == ""
    loaded = "return arguments[0].complete && arguments[0].naturalWidth"
    for card in cards:
        image = card.find_element("css selector", "img.pianoroll")
        assert _wait(browser, lambda d, image=image: d.execute_script(loaded, image), 30) > 100
    if synth_available():
        audio = cards[0].find_element("css selector", "audio")
        duration = browser.execute_async_script(
            "const [a, done] = arguments; a.onloadedmetadata = () => done(a.duration);"
            "a.onerror = () => done(-1); a.preload = 'metadata'; a.load();",
            audio,
        )
        assert duration > 0.1  # the browser decoded the studio's WAV
    else:
        assert not browser.find_elements("css selector", "#samples audio")
        pytest.skip("FluidSynth or its SoundFont is absent: no audio in the page to check")
    cards[0].find_element("css selector", "a.midi").click()
    wanted = browser.downloads / f"{cards[0].get_attribute('data-id')}.mid"
    _wait(browser, lambda d: wanted.is_file() and wanted.stat().st_size > 0, 30)
    midi = mido.MidiFile(wanted)
    assert sum(m.type == "note_on" for t in midi.tracks for m in t) > 0
    cards[1].find_element("css selector", "button.keep").click()
    _wait(browser, lambda d: "kept" in cards[1].get_attribute("class"), 30)


def test_page_shows_the_error_of_a_corrupt_upload_and_keeps_serving(browser, server, tmp_path):
    browser.get(server + "/")
    _wait(browser, lambda d: d.find_element("id", "status").text.startswith("ready"), 30)
    corrupt = tmp_path / "broken.mid"
    corrupt.write_bytes(CORRUPT)
    browser.find_element("id", "primer-file").send_keys(str(corrupt))
    error = _wait(browser, lambda d: d.find_element("id", "error").text, 30)
    assert "broken.mid" in error and "MIDI" in error
    with urllib.request.urlopen(server + "/api/runs", timeout=10) as response:
        assert response.status == 200
    browser.get(server + "/")  # the page still loads and still generates
    _wait(browser, lambda d: d.find_element("id", "status").text.startswith("ready"), 30)
    _set(browser, "max_tokens", str(TOKENS))
    browser.find_element("id", "generate").click()
    assert _wait(browser, lambda d: d.find_elements("css selector", "#samples .sample"))


def test_cli_serve_is_registered():
    from symbolic.cli import parse_args

    args = parse_args(["serve", "a", "b", "--port", "9001"])
    assert [str(p) for p in args.run_dirs] == ["a", "b"]
    assert (args.host, args.port) == ("127.0.0.1", 9001)
