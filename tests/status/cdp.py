"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no websocket library).

Chromium reads commands on fd 3 and writes answers and events on fd 4, each a JSON message
ended by a NUL byte. Enough to size the viewport, load a page, wait for a condition, run a
measuring script and take a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any


class CDPError(RuntimeError):
    pass


class Browser:
    def __init__(self, chromium: str, profile_dir: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()  # we write commands, the browser reads them on fd 3
        self._res_r, res_w = os.pipe()  # the browser writes on fd 4, we read

        def child_fds() -> None:  # runs in the child before exec: put the pipe ends on fds 3 and 4
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile_dir}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=child_fds, pass_fds=(3, 4), close_fds=True)
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._id = 0
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True,
             timeout: float = 30) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for raw in self._messages(deadline):
                answer = json.loads(raw)
                if answer.get("id") == self._id:
                    if "error" in answer:
                        raise CDPError(f"{method}: {answer['error']}")
                    return answer.get("result", {})

    def _messages(self, deadline: float) -> list[bytes]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("no answer from the browser in time")
            ready, _, _ = select.select([self._res_r], [], [], left)
            if ready:
                chunk = os.read(self._res_r, 1 << 20)
                if not chunk:
                    raise CDPError("the browser closed the pipe")
                self._buf += chunk
        *done, self._buf = self._buf.split(b"\0")
        return done

    def open_tab(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def evaluate(self, expression: str) -> Any:
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise CDPError(f"script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def load(self, url: str, width: int, height: int, ready: str, timeout: float = 30) -> None:
        """Size the viewport like a device of that width (a phone below 600 px), open ``url`` and wait
        until ``ready`` (a JS expression) is true."""
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                          "mobile": width < 600})
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not self.evaluate(ready):
            if time.monotonic() > deadline:
                raise CDPError(f"{url} not ready ({ready}) within {timeout} s")
            time.sleep(0.1)

    def screenshot(self, path: Path, max_height: int = 3000) -> Path:
        """The page from the top, up to ``max_height`` CSS pixels (a whole status page on a phone is
        ~40 000 px tall: seconds to encode, megabytes to keep)."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True,
                                  "clip": {"x": 0, "y": 0, "width": size["width"],
                                           "height": min(size["height"], max_height), "scale": 1}}
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", params, timeout=60)["data"]))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (CDPError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self._cmd_w, self._res_r):
            try:
                os.close(fd)
            except OSError:
                pass
