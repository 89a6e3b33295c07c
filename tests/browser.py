"""Starting a real streamlit server and driving Debian's Chromium against it (shared by browser tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
LOGS = ROOT / "artifacts" / "logs"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def streamlit_server(timeout: float = 90.0) -> Iterator[str]:
    """Run `streamlit run app.py` on a free loopback port; yield its base URL."""
    port = free_port()
    # No background warm-up (LSE_WARM_UP=0): every test module starts its own server, and a warm-up takes
    # about a minute of a core each time; the tests load the model where a page needs it.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "LSE_WARM_UP": "0"}
    # The server's output goes to a file, never to an unread pipe: once a pipe's 64 KB buffer is full,
    # the server blocks on its next log line and every page load times out.
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"streamlit-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_bytes().decode(errors="replace")[-2000:]
                raise RuntimeError(f"streamlit exited: {tail}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("streamlit did not become healthy in time")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def app_in_chromium() -> Iterator[tuple[object, str]]:
    """The app served on a free port and Debian's Chromium launched headless: (browser, base url)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser, url
        finally:
            browser.close()


@contextmanager
def classroom_at_home(width: int = 1280, height: int = 720) -> Iterator[tuple[object, str]]:
    """A page of `width` x `height` with classroom mode switched on at home, and the server's address."""
    with app_in_chromium() as (browser, url):
        page = browser.new_page(viewport={"width": width, "height": height})
        visit(page, url)
        wait_idle(page)
        page.get_by_text("Classroom mode").first.click()
        wait_idle(page)
        yield page, url


def visit(page, address: str, timeout_ms: int = 120_000) -> None:
    """Open an address and wait only for the server's first answer; the app itself is awaited by selectors.

    Waiting for the "load" event also waits on every static asset, which on a busy 2-core machine (a
    previous session's script still finishing) can pass Playwright's 30 s default.
    """
    page.goto(address, wait_until="commit", timeout=timeout_ms)
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait until the script has run to the end (and has started at least once)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def require_chromium() -> None:
    """Skip the calling test module without Debian's Chromium, except on CI, where that is an error."""
    import pytest

    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
