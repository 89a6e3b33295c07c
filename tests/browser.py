"""Starting a real streamlit server and driving Debian's Chromium against it (shared by browser tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
DESKTOP = {"width": 1440, "height": 1000}  # the viewport most browser tests use
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One `streamlit run app.py` on a loopback port, its log file open for writing."""

    proc: subprocess.Popen
    url: str
    log: BinaryIO
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def start_server(env: Mapping[str, str] | None = None, timeout: float = 90.0) -> Server:
    """Start `streamlit run app.py` on a free loopback port with `env` added, and wait until it is healthy."""
    port = free_port()
    # No background warm-up (LSE_WARM_UP=0): a warm-up takes about a minute of a core (UMAP's compile
    # among it), most of which no browser test needs; the tests load the model where a page needs it.
    full_env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "LSE_WARM_UP": "0",
        **(env or {}),
    }  # fmt: skip
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
        cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Server(proc, f"http://127.0.0.1:{port}", log, log_path)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not server.alive():
                tail = log_path.read_bytes().decode(errors="replace")[-2000:]
                raise RuntimeError(f"streamlit exited: {tail}")
            try:
                with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return server
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("streamlit did not become healthy in time")
    except BaseException:
        server.stop()
        raise


class _Shared:
    """What every browser test in a pytest session shares: one Playwright, one Chromium, and one server
    per mode (a mode is the environment a server starts with; `{}` is the default). Each test opens its
    own browser contexts, so each is a fresh Streamlit session; starting a server and Chromium costs
    seconds of a core each, and the server's first model load and page runs more."""

    def __init__(self) -> None:
        self.playwright = None
        self.browser = None
        self.servers: dict[tuple[tuple[str, str], ...], Server] = {}

    def chromium(self):
        if self.browser is None or not self.browser.is_connected():
            from playwright.sync_api import sync_playwright

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            if self.playwright is None:
                self.playwright = sync_playwright().start()
            self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        return self.browser

    def url(self, env: Mapping[str, str] | None) -> str:
        mode = tuple(sorted((env or {}).items()))
        server = self.servers.get(mode)
        if server is not None and not server.alive():
            # An earlier test took it down (its log says why): that test failed; later ones get a new one.
            server.stop()
            server = None
        if server is None:
            server = self.servers[mode] = start_server(env)
        return server.url

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None
        if self.playwright is not None:
            self.playwright.stop()
            self.playwright = None
        while self.servers:
            self.servers.popitem()[1].stop()


_SHARED = _Shared()


def shared_app(env: Mapping[str, str] | None = None) -> tuple[object, str]:
    """(Chromium, base url) of the session's shared server for the mode `env` (started on first use)."""
    return _SHARED.chromium(), _SHARED.url(env)


def close_shared() -> None:
    """Stop Chromium and every shared server (conftest calls this when the pytest session ends)."""
    _SHARED.close()


@contextmanager
def app_in_chromium(env: Mapping[str, str] | None = None) -> Iterator[tuple[object, str]]:
    """The shared app and Chromium for one block: (browser, base url). Every browser context the block
    opens is closed at its end, so its Streamlit sessions end and their memory returns to the server."""
    browser, url = shared_app(env)
    before = set(browser.contexts)
    try:
        yield browser, url
    finally:
        for context in browser.contexts:
            if context not in before:
                context.close()


@contextmanager
def classroom_at_home(width: int = 1280, height: int = 720) -> Iterator[tuple[object, str]]:
    """A page of `width` x `height` with classroom mode switched on at home, and the server's address."""
    with app_in_chromium() as (browser, url):
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
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


CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
# Every drawn chart as one string (a canvas's pixels, an SVG's markup); true when it matches the previous
# poll's and something is drawn. Vega draws after the script run has ended, so "idle" is not "drawn".
SAME_AS_LAST_POLL = """(sel) => {
  const drawn = [...document.querySelectorAll(sel)]
    .map((e) => (e.tagName === "CANVAS" ? e.toDataURL() : e.outerHTML)).join("|");
  const same = drawn.length > 0 && drawn === window.__lseLastDrawn;
  window.__lseLastDrawn = drawn;
  return same;
}"""


def wait_drawn(page, selector: str = CHART, quiet_ms: int = 300, timeout_ms: int = 30_000) -> None:
    """Wait until the charts matching `selector` are drawn and have not changed for `quiet_ms`."""
    page.evaluate("() => { window.__lseLastDrawn = null; }")
    page.wait_for_function(SAME_AS_LAST_POLL, arg=selector, polling=quiet_ms, timeout=timeout_ms)


# Counts, in the page, every script run that ended (the app's script state leaving "running"); installed
# once per loaded document. A record per attribute change, so a run too quick to be seen is still counted.
COUNT_RUNS = """() => {
  if (window.__lseRunsEnded !== undefined) return window.__lseRunsEnded;
  window.__lseRunsEnded = 0;
  new MutationObserver((records) => {
    window.__lseRunsEnded += records.filter((r) => r.oldValue === "running").length;
  }).observe(document.querySelector("[data-testid='stApp']"),
             { attributes: true, attributeFilter: ["data-test-script-state"], attributeOldValue: true });
  return 0;
}"""


@contextmanager
def rerun(page, timeout_ms: int = 180_000) -> Iterator[None]:
    """Wait, after the action inside the block, until a script run it started has ended and the app is
    idle: what a fixed pause before `wait_idle` only hoped for. Use it only around actions that do run
    the script (a widget's change, a button), or it waits for `timeout_ms` and fails."""
    ended = page.evaluate(COUNT_RUNS)
    yield
    page.wait_for_function("(n) => window.__lseRunsEnded > n", arg=ended, timeout=timeout_ms)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def require_chromium() -> None:
    """Skip the calling test module without Debian's Chromium, except on CI, where that is an error."""
    import pytest

    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


def shared_chromium():
    """The session's shared Chromium alone, for tests of files that need no server."""
    return _SHARED.chromium()


def offline_page(**options):
    """A page of a fresh context of the shared Chromium (`options` for the context: viewport, reduced
    motion) in which every request but the file itself is blocked, and the list each blocked or attempted
    request's address is added to: (context, page, outside). Close the context when done."""
    context = shared_chromium().new_context(**options)
    page = context.new_page()
    outside: list[str] = []

    def block(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    page.on(
        "request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else outside.append(r.url)
    )
    return context, page, outside
