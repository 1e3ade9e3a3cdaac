"""Structured logging: one JSON object per line, with secrets redacted on the way out.

Keys and tokens must never reach a log; the redaction filter is the last line of defence
(code never logs them in the first place): any field named like a secret, and any long
base64/hex run that looks like key material, is replaced.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_SECRET_FIELDS = re.compile(r"(token|secret|password|private|seed|signing_key|authorization)", re.I)
_KEYLIKE = re.compile(r"\b[A-Za-z0-9+/_-]{40,}={0,2}")
_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def redact(text: str) -> str:
    return _KEYLIKE.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(time.time(), 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": redact(record.getMessage())}
        for k, v in vars(record).items():
            if k in _STD or k.startswith("_"):
                continue
            out[k] = "[redacted]" if _SECRET_FIELDS.search(k) else (redact(v) if isinstance(v, str) else v)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
