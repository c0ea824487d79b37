"""Take docs/studio.png, the README's picture of the studio (`symbolic serve`).

    .venv/bin/python docs/studio_screenshot.py demo/run [--out docs/studio.png]

Serves RUN_DIR on a free port, opens the page in headless Debian chromium (tests/helpers.py's
`headless_chromium`), generates three samples with the settings below, keeps one, and saves a
screenshot of the window.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETTINGS = {"num": "3", "max_tokens": "256", "top_p": "0.95", "seed": "7", "bars": "4"}


def serve_in_thread(run_dir: Path, out: Path) -> str:
    """The studio on a free port of 127.0.0.1, in a daemon thread -> its base URL."""
    import uvicorn

    from symbolic.studio import Studio, create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    studio = Studio([run_dir], out, work_dir=out / "work")
    server = uvicorn.Server(uvicorn.Config(create_app(studio), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def main() -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.helpers import headless_chromium

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "studio.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = serve_in_thread(args.run_dir, Path(scratch))
        driver = headless_chromium(size=(1500, 1050))
        try:
            driver.get(url + "/")
            wait = WebDriverWait(driver, 300)
            wait.until(lambda d: d.find_element("id", "status").text.startswith("ready"))
            for field, value in SETTINGS.items():
                element = driver.find_element("id", field)
                element.clear()
                element.send_keys(value)
            driver.find_element("id", "generate").click()
            wait.until(lambda d: len(d.find_elements("css selector", "#samples .sample")) == 3)
            images = "return [...document.images].every((i) => i.complete && i.naturalWidth)"
            wait.until(lambda d: d.execute_script(images))
            driver.find_elements("css selector", "button.keep")[1].click()
            wait.until(lambda d: "kept" in d.find_element("id", "status").text)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    print(args.out)


if __name__ == "__main__":
    main()
