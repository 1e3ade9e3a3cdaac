"""Remove the used token from the provisioning file, atomically, keeping the installer's comments.

The token line is replaced by a comment saying when it was removed; the result must parse and
hold every other key unchanged, else the file is rewritten from its values (comments lost,
token gone). Temporary file in the same directory, fsync, rename, fsync of the directory:
the boot partition (FAT) either has the old file or the new one after a power cut.
"""

from __future__ import annotations

import os
import re
import time
import tomllib
from pathlib import Path
from typing import Any

_TOKEN_LINE = re.compile(r"^[ \t]*token[ \t]*=.*$", re.MULTILINE)


def _toml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def without_token(text: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    before = tomllib.loads(text)
    new = _TOKEN_LINE.sub(f"# token used and removed by edgeproof provision at {stamp}", text, count=1)
    try:
        after = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        after = None
    want = {k: v for k, v in before.items() if k != "token"}
    if after != want:  # an unusual layout (a multi-line string): keep the values, drop the comments
        new = "".join(f"{k} = {_toml_scalar(v)}\n" for k, v in want.items())
    return new


def wipe_token(path: Path) -> bool:
    """Rewrite ``path`` without its token. False when it had none."""
    text = path.read_text(encoding="utf-8")
    if "token" not in tomllib.loads(text):
        return False
    new = without_token(text)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, new.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some filesystems refuse fsync on a directory; the rename is done
        pass
    return True
