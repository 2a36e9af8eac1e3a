"""Browser fixtures: Debian's Chromium through Playwright's sync API, and a live server per test.

Playwright's sync API keeps its own event loop marked as running in this thread, so everything that
needs ``asyncio.run`` (seeding the test database) runs in a worker thread, and the browser lives for
one module only, so the asyncio tests in other modules never see that loop.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Route,
    ViewportSize,
    WebSocket,
    expect,
    sync_playwright,
)

from tests.conftest import PASSWORD, ROOT, Databases, LiveServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NEUTRAL_URL = "https://www.google.com/search?q=weather"  # the quick-exit target in chat/web/index.html
SCREENSHOTS = Path(os.environ.get("NORA_SCREENSHOTS", "/tmp/nora-chat-screens"))
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)
A11Y_SCRIPT = (Path(__file__).parent / "a11y_check.js").read_text("utf-8")
# axe-core from npm (tests/browser/package.json, installed with `npm ci` on first use), run in the page.
AXE_DIR = Path(__file__).parent
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  // a message still fading in would read as low contrast: measure the page as it settles
  await Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null)));
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "critical" || v.impact === "serious")
    .map((v) => `${v.impact} ${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}"""
EXTERNAL = re.compile(r"^(?!https?://127\.0\.0\.1[:/]|wss?://127\.0\.0\.1[:/]|data:|about:|blob:)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _in_thread(fn: Callable[[], str]) -> str:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


@pytest.fixture
def servers(databases: Databases, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start real ``nora-chat serve`` processes: ``servers(**env)``, each on a fresh SQLite copy
    seeded with the USERS of tests/conftest.py; all stopped after the test."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        url = _in_thread(databases.sqlite)
        server = start_server(url, tmp_path / f"server-{len(started)}.log", **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live(servers: Callable[..., LiveServer]) -> LiveServer:
    return servers()


def restart(server: LiveServer) -> None:
    """Stop the server and start it again on the same port and database (a deploy, a crash)."""
    server.stop()
    port = urlparse(server.base).port
    with server.log_path.open("ab") as log:
        server.process = subprocess.Popen(
            [sys.executable, "-m", "nora.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.process.send_signal(signal.SIGKILL)
    raise RuntimeError("server did not come back")


@dataclass
class Browsing:
    """Contexts opened for one test, with what they asked of the outside world and any page errors."""

    browser: Browser
    base: str
    frames_log: Path | None = None
    contexts: list[BrowserContext] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def page(self, path: str = "/", *, viewport: ViewportSize | None = None) -> Page:
        context = self.browser.new_context(base_url=self.base, viewport=viewport or DESKTOP, locale="nb-NO")
        # There is no internet here, and a test must never reach it: anything not on 127.0.0.1
        # (the quick-exit target, say) gets a blank neutral page from this handler instead.
        context.route(EXTERNAL, self._neutral)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)
        page.on("dialog", self._dialog)
        if self.frames_log is not None:
            tag = f"{path}#{len(self.contexts)}"
            page.on("websocket", lambda ws: self._trace(tag, ws))
        page.goto(path)
        return page

    def _trace(self, tag: str, ws: WebSocket) -> None:
        """Every websocket frame a page sends and receives, for reading after a failure."""
        log = self.frames_log
        assert log is not None

        def write(direction: str, payload: object) -> None:
            with log.open("a", encoding="utf-8") as out:
                out.write(f"{time.monotonic():.3f} {tag} {direction} {payload}\n")

        write("open", ws.url)
        ws.on("framesent", lambda payload: write(">", payload))
        ws.on("framereceived", lambda payload: write("<", payload))
        ws.on("close", lambda _: write("closed", ""))

    def _neutral(self, route: Route) -> None:
        self.external.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Weather</title><p>Weather")

    def _console(self, message: ConsoleMessage) -> None:
        # The pages run under a strict CSP: any violation (an inline style, say) is a failure.
        if message.type == "error" and "Content Security Policy" in message.text:
            self.page_errors.append(message.text)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def web(browser: Browser, live: LiveServer, tmp_path: Path) -> Iterator[Browsing]:
    browsing = Browsing(browser, live.base, frames_log=tmp_path / "frames.log")
    yield browsing
    browsing.close()
    assert not browsing.page_errors, f"JavaScript errors: {browsing.page_errors}"
    assert not browsing.dialogs, f"unexpected dialogs: {browsing.dialogs}"


# ---------------------------------------------------------------------- what a user does


def start_chat(
    page: Page, *, language: str = "ar", region: str = "03", audience: str = "youth", urgent: bool = False
) -> None:
    page.select_option("#language", language)
    page.select_option("#region", region)
    page.select_option("#audience", audience)
    if urgent:
        page.check("#urgent")
    page.click("#start-button")
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#chat-heading")).not_to_have_text(re.compile("Kobler til|Connecting"))


def log_in(page: Page, username: str, *, password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-button")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


def go_available(console: Page) -> None:
    console.click("#status-available")
    expect(console.locator("#status-available")).to_have_attribute("aria-pressed", "true")


def visitor_send(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")
    expect(page.locator("#transcript .msg-visitor", has_text=text).last).to_have_attribute("data-state", "sent")


def adviser_send(console: Page, text: str) -> None:
    box = console.locator(".conversation:not([hidden]) textarea[id^=compose-]")
    box.fill(text)
    box.press("Enter")
    sent = console.locator(".conversation:not([hidden]) .msg-adviser:not(.msg-pending)", has_text=text)
    expect(sent.last).to_be_visible()


def connected_chat(web: Browsing, **start: Any) -> tuple[Page, Page, str]:
    """A visitor chatting with Amina: (visitor page, console page, the visitor's alias)."""
    visitor = web.page("/")
    start_chat(visitor, **start)
    console = web.page("/console")
    log_in(console, "amina")
    go_available(console)
    expect(visitor.locator("#chat-heading")).to_contain_text("Amina")
    item = console.locator("#conversation-list .conv-item")
    expect(item).to_have_count(1)
    alias = console.locator(".conversation:not([hidden]) .conv-title span").first.inner_text()
    assert alias.startswith("Gjest ")
    return visitor, console, alias


def audit(page: Page) -> list[str]:
    problems: list[str] = page.evaluate(A11Y_SCRIPT)
    return problems


def axe_source() -> str:
    """axe.min.js, installed from the lock file the first time a test needs it."""
    if not AXE_SCRIPT.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install axe-core for the accessibility tests (Debian package npm)")
        # Test workers run in parallel (pytest-xdist): one installs, the others wait for it.
        with (AXE_DIR / ".install.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not AXE_SCRIPT.exists():
                subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, check=True, capture_output=True)
    return AXE_SCRIPT.read_text("utf-8")


def axe(page: Page) -> list[str]:
    """axe-core's critical and serious violations on the page as it is now. Evaluated through the
    DevTools protocol, so the page's strict CSP (no inline scripts) stays on and is not in the way."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    problems: list[str] = page.evaluate(AXE_RUN)
    return problems


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
