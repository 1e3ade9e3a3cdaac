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
_KEYLIKE = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{40,}={0,2}")
_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


# Public values that look like key material but are not secret: hashes, key ids.
_PUBLIC_FIELDS = frozenset({"hash", "prev", "batch_hash", "kid", "public_key", "receiver_kid"})


def _redact_match(m: re.Match[str]) -> str:
    run = m.group(0)
    # An absolute file path is not key material; keep it readable. (Base64 that happens to
    # start with '/' and contain another '/' is let through too: a last line of defence
    # only, as code never logs keys or tokens in the first place.)
    if run.startswith("/") and run.count("/") >= 2:
        return run
    return "[redacted]"


def redact(text: str) -> str:
    return _KEYLIKE.sub(_redact_match, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(time.time(), 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": redact(record.getMessage())}
        for k, v in vars(record).items():
            if k in _STD or k.startswith("_"):
                continue
            if k in _PUBLIC_FIELDS:
                out[k] = v
            elif _SECRET_FIELDS.search(k):
                out[k] = "[redacted]"
            else:
                out[k] = redact(v) if isinstance(v, str) else v
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
