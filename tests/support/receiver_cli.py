"""The receiver's CLI in a child process with the environment's language chosen (the i18n tests of the receiver)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
LANG_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
ZH = {"LANG": "zh_CN.UTF-8"}
EN = {"LC_ALL": "C"}


def receiver_cli(*args: str, lang: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m cloud_stub ARGS`` with only ``lang``'s locale variables set (gettext reads the first set)."""
    env = {k: v for k, v in os.environ.items() if k not in LANG_VARS}
    env.update(lang)
    return subprocess.run([sys.executable, "-m", "cloud_stub", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
