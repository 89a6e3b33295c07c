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
EXCEPTION = "[data-testid='stException']"  # a traceback shown on the page


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
                time.sleep(0.3)  # the poll interval of a condition wait: until the server answers
        raise RuntimeError("streamlit did not become healthy in time")
    except BaseException:
        server.stop()
        raise


# Installed in every page before its own scripts: counts the messages the app's WebSocket receives and
# notes when the last came. A script run always sends some (its start, its elements, its end), so "a message
# came after the action, none for a moment since, and the app is idle" is a run that the action started and
# that has ended, however quick: a run quicker than a frame may never show "running" in the DOM.
COUNT_MESSAGES = """(() => {
  window.__lseMessages = 0;
  window.__lseLastMessage = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", () => {
        window.__lseMessages += 1;
        window.__lseLastMessage = performance.now();
      });
    }
  };
})();"""


def _count_messages_in_every_page(browser) -> None:
    """Make every context (and page) the shared Chromium opens count its app's messages (see `rerun`)."""
    new_context, new_page = browser.new_context, browser.new_page

    def counting_context(*args, **options):
        context = new_context(*args, **options)
        context.add_init_script(COUNT_MESSAGES)
        return context

    def counting_page(*args, **options):
        page = new_page(*args, **options)  # at about:blank: the script runs from its first visit on
        page.context.add_init_script(COUNT_MESSAGES)
        return page

    browser.new_context, browser.new_page = counting_context, counting_page


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
            _count_messages_in_every_page(self.browser)
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


def server_process(env: Mapping[str, str] | None = None) -> int:
    """The process id of the shared server for the mode `env` (started on first use): for a test that
    watches what the server does after a page has gone (its CPU time, say)."""
    _SHARED.url(env)
    return _SHARED.servers[tuple(sorted((env or {}).items()))].proc.pid


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
        with rerun(page):
            page.get_by_text("Classroom mode").first.click()
        yield page, url


def visit(page, address: str, timeout_ms: int = 120_000) -> None:
    """Open an address and wait only for the server's first answer; the app itself is awaited by selectors.

    Waiting for the "load" event also waits on every static asset, which on a busy 2-core machine (a
    previous session's script still finishing) can pass Playwright's 30 s default.
    """
    page.goto(address, wait_until="commit", timeout=timeout_ms)
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait until the script has run to the end (and has started at least once: a freshly loaded page's
    script state is "initial" until its first run starts) and every element it sent is drawn. After an
    action that runs the script, wrap the action in `rerun` instead: this cannot tell a run that has not
    started yet from none."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    page.wait_for_function(ALL_DRAWN, timeout=timeout_ms)


# Streamlit loads each kind of element's code when a page first shows one, and draws a grey skeleton in
# its place until then: on a busy machine a fresh page is idle seconds before its sentence box exists (in
# 8 of 10 fresh Token journey pages with two cores kept busy, before and after the chart-first change).
ALL_DRAWN = "() => document.querySelector(\"[data-testid='stSkeleton']\") === null"


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


# The page's look as one string: every drawn chart (as in SAME_AS_LAST_POLL) and the place and size of every
# element of the app; true when the app is idle and the string matches the previous poll's.
SAME_LOOK_AS_LAST_POLL = """(sel) => {
  const idle = document.querySelector(`IDLE_SELECTOR`) !== null;
  const drawn = [...document.querySelectorAll(sel)]
    .map((e) => (e.tagName === "CANVAS" ? e.toDataURL() : e.outerHTML)).join("|");
  const boxes = [...document.querySelectorAll("[data-testid='stElementContainer'], [role='dialog']")]
    .map((e) => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round); })
    .join(";");
  const look = drawn + "#" + boxes + "#" + document.documentElement.scrollHeight;
  const same = idle && look === window.__lseLastLook;
  window.__lseLastLook = look;
  return same;
}""".replace("IDLE_SELECTOR", IDLE)


def wait_still(page, selector: str = CHART, quiet_ms: int = 300, timeout_ms: int = 60_000) -> None:
    """Wait until the app is idle and its look (charts drawn, every element's box, the page's height) has
    not changed for `quiet_ms`: what a screenshot or a measurement of the layout needs, after a load, an
    action's run, a new viewport or a tab's switch (Vega draws, and resizes, after the run has ended)."""
    page.evaluate("() => { window.__lseLastLook = null; }")
    page.wait_for_function(SAME_LOOK_AS_LAST_POLL, arg=selector, polling=quiet_ms, timeout=timeout_ms)


# True once a message has come after the `seen`-th, none has come for `quiet` ms, and the app is idle.
RUN_ENDED = """([seen, quiet, idle]) => window.__lseMessages > seen
  && performance.now() - window.__lseLastMessage > quiet && document.querySelector(idle) !== null
  && document.querySelector("[data-testid='stSkeleton']") === null"""


@contextmanager
def rerun(page, quiet_ms: int = 200, timeout_ms: int = 180_000) -> Iterator[None]:
    """Wait, after the action inside the block, until a script run it started has ended and the app is
    idle: what a fixed pause before `wait_idle` only hoped for. Use it only around actions that do run
    the script (a widget's change, a button), or it waits for `timeout_ms` and fails."""
    seen = page.evaluate("() => window.__lseMessages")
    assert seen is not None, "a page of the shared Chromium (browser.shared_app) counts its messages"
    yield
    page.wait_for_function(RUN_ENDED, arg=[seen, quiet_ms, IDLE], polling=50, timeout=timeout_ms)


def open_tab(page, name: str) -> None:
    """Open the tab `name` and wait until the page is still. The app remembers each page's open tab (its
    tabs have an on_change), so opening another tab runs the script; the open one is left alone."""
    tab = page.get_by_role("tab", name=name)
    if tab.get_attribute("aria-selected") != "true":
        with rerun(page):
            tab.click()
    wait_still(page)


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
