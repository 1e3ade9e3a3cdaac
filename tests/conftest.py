"""Suite-wide: the tests read the English messages unless a test chooses a language itself.

A developer's shell may say LANG=zh_CN.UTF-8; without this, every assertion on an English message
(and every CLI subprocess, which inherits the environment) would read Chinese. LANGUAGE decides
first in gettext's order (gateway/i18n.py), so setting it alone is enough and leaves LANG/LC_* (the
encoding) alone. Tests of the Chinese output set the language explicitly (tests/installer/test_cli_i18n.py).
"""

from __future__ import annotations

import os

os.environ["LANGUAGE"] = "en"
