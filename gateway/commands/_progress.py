"""One line per step of a long command, with the time since it began (``edgeproof demo``).

A command that runs for a minute and prints nothing looks hung; a line as each step starts
(and a few while a long one runs) says what it is doing and how long it has taken. Silent
when the command's output is for a program (``--json``): stdout then holds one JSON object.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from gateway.i18n import _


class Progress:
    """Numbered step lines: ``[  12.3 s] step 4/9: ...``, written and flushed at once."""

    def __init__(self, total: int, enabled: bool = True, clock: Callable[[], float] = time.monotonic,
                 echo: Callable[[str], None] | None = None) -> None:
        self.total, self.enabled, self.clock = total, enabled, clock
        self.t0 = clock()
        self.n = 0
        self._echo = echo or (lambda line: click.echo(line))  # click.echo flushes: seen at once through a pipe

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def _line(self, text: str) -> None:
        if self.enabled:
            self._echo(_("[{elapsed:6.1f} s] {text}").format(elapsed=self.elapsed(), text=text))

    def step(self, text: str) -> None:
        """A step begins."""
        self.n += 1
        self._line(_("step {n}/{total}: {text}").format(n=self.n, total=self.total, text=text))

    def note(self, text: str) -> None:
        """Progress within the current step (indented under it)."""
        self._line(f"  {text}")
