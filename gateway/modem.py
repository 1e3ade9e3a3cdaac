"""The cellular modem's signal and operator, from ModemManager (``mmcli -J``), for the health summary.

Gateways on 4G/5G links report the link they ride on: operator, access technology, registration
state and signal (ModemManager's 0-100 quality, plus RSRP/RSRQ/SINR in dB/dBm when the modem has
signal polling enabled). Where there is no ModemManager or no modem, :func:`read_modem` returns None
and the health summary omits its ``modem`` field (absent, never a zero signal).

Only link facts leave the site: never the IMEI, the SIM's ICCID/IMSI or the phone number (the
parser copies named keys, it does not pass the document through). mmcli prints numbers as strings
and ``--`` for unknown; both parsers turn those into numbers or drop them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

MAX_TEXT = 64
TIMEOUT_S = 3.0
_SIGNAL_KEYS = {"rssi": "rssi_dbm", "rsrp": "rsrp_dbm", "rsrq": "rsrq_db", "snr": "snr_db", "sinr": "sinr_db",
                "ecio": "ecio_db", "io": "io_dbm"}
_TECHS = ("5g", "nr5g", "lte", "umts", "gsm", "cdma1x", "evdo")


def _text(v: Any) -> str | None:
    if not isinstance(v, str):
        return None
    v = v.strip()
    if not v or v == "--":
        return None
    return "".join(c if c.isprintable() else "?" for c in v)[:MAX_TEXT]


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    t = _text(v)
    if t is None:
        return None
    try:
        x = float(t)
    except ValueError:
        return None
    return x if x == x and abs(x) < 1e6 else None  # NaN and absurd values are "not known"


def parse_modem(doc: Any) -> dict[str, Any] | None:
    """The link facts of one ``mmcli -J -m <modem>`` document; None when it is not one."""
    modem = doc.get("modem") if isinstance(doc, dict) else None
    if not isinstance(modem, dict):
        return None
    generic = modem.get("generic") if isinstance(modem.get("generic"), dict) else {}
    gpp = modem.get("3gpp") if isinstance(modem.get("3gpp"), dict) else {}
    out: dict[str, Any] = {}
    quality = generic.get("signal-quality")
    # "recent": "no" means ModemManager has no fresh value: not observed, never a zero signal.
    fresh = isinstance(quality, dict) and quality.get("recent") != "no"
    pct = _number(quality.get("value")) if fresh and isinstance(quality, dict) else None
    if pct is not None and 0 <= pct <= 100:
        out["signal_pct"] = int(pct)
    techs = generic.get("access-technologies")
    if isinstance(techs, list):
        tech = [t for t in (_text(x) for x in techs[:8]) if t]
        if tech:
            out["access"] = tech
    for key, src, name in (("state", generic, "state"), ("operator", gpp, "operator-name"),
                           ("operator_code", gpp, "operator-code"), ("registration", gpp, "registration-state")):
        t = _text(src.get(name))
        if t is not None:
            out[key] = t
    return out or None


def parse_signal(doc: Any) -> dict[str, dict[str, float]]:
    """Per access technology, the extended signal values of ``mmcli -J -m <modem> --signal-get``."""
    sig = doc.get("modem", {}).get("signal") if isinstance(doc, dict) and isinstance(doc.get("modem"), dict) else None
    if not isinstance(sig, dict):
        return {}
    out: dict[str, dict[str, float]] = {}
    for tech in _TECHS:
        values = sig.get(tech)
        if not isinstance(values, dict):
            continue
        got = {name: x for key, name in _SIGNAL_KEYS.items() if (x := _number(values.get(key))) is not None}
        if got:
            out[tech] = got
    return out


Runner = Callable[[list[str]], str | None]


def _mmcli(args: list[str]) -> str | None:
    """stdout of ``mmcli -J <args>``, or None (no mmcli, no ModemManager, a timeout, an error)."""
    exe = shutil.which("mmcli")
    if exe is None:
        return None
    try:
        res = subprocess.run([exe, "-J", *args], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_modem(run: Runner = _mmcli) -> dict[str, Any] | None:
    """The first modem's link facts (plus ``signal`` when the modem reports extended values), or None."""
    listing = _json(run(["-L"]))
    modems = listing.get("modem-list") if isinstance(listing, dict) else None
    if not isinstance(modems, list) or not modems or not isinstance(modems[0], str):
        return None
    out = parse_modem(_json(run(["-m", modems[0]])))
    if out is None:
        return None
    signal = parse_signal(_json(run(["-m", modems[0], "--signal-get"])))
    if signal:
        out["signal"] = signal
    return out
