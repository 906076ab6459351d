"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``.

Why the pipe and not a WebSocket: it needs no port (nothing listens, not even on
loopback), no third-party package, and no scraping of the ``DevTools listening on ws://``
line; Chromium reads NUL-terminated JSON commands on fd 3 and writes replies and events on
fd 4 (Puppeteer's and Playwright's "pipe" transport). A two-line Python wrapper moves our
two pipe ends (kept at fds >= 10, so nothing collides) onto fds 3 and 4 and execs
Chromium; simpler and safer than ``preexec_fn``, and ``/bin/sh`` (dash) cannot name fds
above 9.

Used by tests/report/test_browser.py; the flags work as root in a container
(``--no-sandbox``) and without a display (``--headless=new``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


class CdpError(RuntimeError):
    """A protocol error reply, a browser that died, or no reply in time."""


def find_chromium() -> str | None:
    """The Chromium binary: ``$RELAYHUNT_CHROMIUM``, else ``chromium`` / ``chromium-browser``
    / ``google-chrome`` on PATH."""
    explicit = os.environ.get("RELAYHUNT_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _high_fd(fd: int) -> int:
    """``fd`` moved to a number >= 10 (so the wrapper's ``dup2`` onto 3 and 4 cannot
    overwrite the other pipe end)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Browser:
    """One headless Chromium; ``call`` sends a command and returns its result, keeping
    every event that arrives meanwhile in :attr:`events`."""

    def __init__(
        self, executable: str, *, timeout_s: float = 60.0, width: int = 1280, height: int = 1400
    ) -> None:
        self.timeout_s = timeout_s
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="relayhunt-chromium-")
        # stderr to a file: a pipe nobody drains would block a chatty browser
        self._log = tempfile.TemporaryFile(  # noqa: SIM115 - closed in close()
            prefix="relayhunt-chromium-", suffix=".log"
        )
        cmd_r, cmd_w = (_high_fd(fd) for fd in os.pipe())  # we write, Chromium reads fd 3
        res_r, res_w = (_high_fd(fd) for fd in os.pipe())  # Chromium writes fd 4, we read
        args = [
            executable,
            *FLAGS,
            f"--user-data-dir={self._profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        # dup2 onto 3 and 4 (inheritable), close the originals, exec Chromium
        wrapper = (
            f"import os, sys; os.dup2({cmd_r}, 3); os.dup2({res_w}, 4); "
            f"os.close({cmd_r}); os.close({res_w}); os.execv(sys.argv[1], sys.argv[1:])"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-c", wrapper, *args],
            pass_fds=(cmd_r, res_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._out = cmd_w
        self._in = res_r
        self.command_line = shlex.join(args)

    # -------------------------------------------------------------------------- transport

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._out, data)
            data = data[written:]

    def _read_one(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError(f"no reply from Chromium within {self.timeout_s} s")
            ready, _, _ = select.select([self._in], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise CdpError(f"Chromium closed the pipe; stderr: {self._stderr_tail()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def _stderr_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    # -------------------------------------------------------------------------- protocol

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and wait for its reply; raise :class:`CdpError` on an error."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read_one(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(
        self, method: str, match: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any]:
        """The first event ``method`` (already received or arriving) that ``match`` accepts."""
        for event in self.events:
            if event.get("method") == method and (match is None or match(event)):
                return event
        deadline = time.monotonic() + self.timeout_s
        while True:
            event = self._read_one(deadline)
            if "method" in event:
                self.events.append(event)
                if event["method"] == method and (match is None or match(event)):
                    return event

    def open_page(self) -> str:
        """A new tab with Page, Runtime and Log enabled; returns its session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        return str(session)

    def evaluate(self, session: str, expression: str) -> Any:
        """The JSON value of ``expression`` in the page (exceptions raise)."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        if "exceptionDetails" in result:
            raise CdpError(f"page exception: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                try:
                    self.call("Browser.close")
                except (CdpError, OSError):
                    self._proc.kill()  # it is going away either way
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
        finally:
            for fd in (self._out, self._in):
                with contextlib.suppress(OSError):  # already closed
                    os.close(fd)
            self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
