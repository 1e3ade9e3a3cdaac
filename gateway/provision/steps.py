"""Apply a provisioning file: profile, init, enroll (then wipe the token), probe, selftest.

Each step calls the function its command uses (``init_identity``, ``enroll``, ``probe``,
``run_checks``), never our own CLI in a subprocess. Steps already done are not redone on a
retry: the key is made once, and the one-time token is spent once. A failed attempt is
recorded and retried with capped exponential backoff (``run_with_retries``); a wrong file
is not retried (the same file fails the same way) and says which key to fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.filemodes import write_atomic
from gateway.i18n import N_, as_data
from gateway.provision.config import LOCALES, ProvisionFileError, Provisioning, load_provisioning, resolve_profile
from gateway.provision.state import (
    new_state,
    read_provision_state,
    redact,
    write_provision_state,
)
from gateway.provision.tokenfile import wipe_token
from gateway.service.provision_unit import ENVIRONMENT_FILE
from gateway.user_error import Part, UserError
from gateway.wire.backoff import Backoff

log = logging.getLogger("edgeproof.provision")
SERVICE_USER = "edgeproof"


class StepFailed(UserError, RuntimeError):
    """A step that may pass on a later attempt (network, receiver, a device, the clock)."""


@dataclass
class Paths:
    boot_file: Path
    state_dir: Path
    config_dir: Path

    @property
    def profile(self) -> Path:
        return self.config_dir / "profile.toml"


def _service_ids() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pw = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode)


_SITE_ID = re.compile(r'^(?P<pre>[ \t]*id[ \t]*=[ \t]*)(?P<val>"[^"\n]*"|\'[^\'\n]*\')', re.MULTILINE)
_SECTION = re.compile(r"^[ \t]*\[", re.MULTILINE)


def with_site_id(text: str, site_id: str) -> str:
    """The profile text with ``[site] id`` set (comments and layout kept). The caller re-validates."""
    m = re.search(r"^[ \t]*\[site\][ \t]*(#.*)?$", text, re.MULTILINE)
    if m is None:
        return text
    end = _SECTION.search(text, m.end())
    body_end = end.start() if end else len(text)
    body = text[m.end():body_end]
    new_body, n = _SITE_ID.subn(lambda mm: f'{mm.group("pre")}"{site_id}"', body, count=1)
    return text[:m.end()] + new_body + text[body_end:] if n else text


def step_profile(prov: Provisioning, paths: Paths) -> Part:
    """Install the profile as <config>/profile.toml with the file's site id, validated first."""
    from gateway.commands.run import validate_profile
    from gateway.profile import ProfileError

    src = resolve_profile(prov)
    text = with_site_id(src.read_text(encoding="utf-8"), prov.site_id)
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    staged = paths.config_dir / ".profile.provision.toml"
    _atomic_write(staged, text.encode("utf-8"), 0o640)
    try:
        prof = validate_profile(staged, paths.state_dir)
    except ProfileError as exc:
        staged.unlink(missing_ok=True)
        raise ProvisionFileError(prov.path, "profile", N_("{src} is not a valid profile: {error}"),
                                                       src=src, error=exc) from exc
    if prof.site.id != prov.site_id:
        staged.unlink(missing_ok=True)
        raise ProvisionFileError(prov.path, "site_id", N_("could not be set in {src}: it has no [site] id line"),
                                                       src=src)
    ids = _service_ids()
    if ids is not None:
        os.chown(staged, 0, ids[1])
    os.replace(staged, paths.profile)
    lang, language = LOCALES[prov.locale]
    env_file = paths.config_dir / ENVIRONMENT_FILE
    _atomic_write(env_file, (f"# Written by edgeproof provision from {prov.path}: the gateway's language\n"
                             f"LANG={lang}\nLANGUAGE={language}\n").encode(), 0o644)
    return Part(N_("{name} installed as {profile} (site {site}, {n} devices), locale {locale} in {env_file}"),
                {"name": src.name, "profile": paths.profile, "site": prov.site_id, "n": len(prof.devices),
                 "locale": prov.locale, "env_file": env_file})


def step_init(prov: Provisioning, paths: Paths) -> Part:
    from gateway.identity import KEY_FILE, IdentityError, init_identity, load_identity

    try:
        if (paths.state_dir / KEY_FILE).exists():
            ident = load_identity(paths.state_dir)
            return Part(N_("already initialised: gateway {gateway}, key id {kid}"),
                        {"gateway": ident.gateway_id, "kid": ident.kid})
        ident = init_identity(paths.state_dir, None, prov.site_id)
    except IdentityError as exc:
        raise StepFailed(exc.template, **exc.params) from exc  # its own words, shown in the reader's language
    return Part(N_("gateway {gateway}, key id {kid} (private key 0600 in {state_dir})"),
                {"gateway": ident.gateway_id, "kid": ident.kid, "state_dir": paths.state_dir})


def step_enroll(prov: Provisioning, paths: Paths) -> Part:
    from gateway.identity import IdentityError, enroll, load_identity

    ident = load_identity(paths.state_dir)
    if ident.enrollment and ident.enrollment.get("receiver_url", "").rstrip("/") == prov.receiver:
        return Part(N_("already enrolled for enterprise {enterprise} at {receiver}"),
                    {"enterprise": ident.enterprise_id, "receiver": prov.receiver})
    if not prov.token:
        raise ProvisionFileError(prov.path, "token", N_("missing; the gateway is not enrolled yet and needs the "
                                                        "one-time token from the receiver's operator"))
    try:
        answer = enroll(paths.state_dir, prov.receiver, prov.token)
    except IdentityError as exc:
        raise StepFailed(exc.template, **exc.params) from exc  # the run loop takes the token out of the text
    return Part(N_("enrolled gateway {gateway} for enterprise {enterprise}"),
                {"gateway": answer.get("gateway_id"), "enterprise": answer.get("enterprise_id")})


def step_token(prov: Provisioning, paths: Paths) -> Part:
    try:
        wiped = wipe_token(prov.path)
    except OSError as exc:
        raise StepFailed(N_("cannot rewrite {path} without the token: {value}"),
                         path=prov.path, value=exc.strerror or exc) from exc
    return Part(N_("removed from {path}") if wiped else N_("no token left in {path}"), {"path": prov.path})


def step_probe(prov: Provisioning, paths: Paths) -> Part:
    from gateway.commands.probe import probe
    from gateway.profile import load_profile

    prof = load_profile(paths.profile)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    report = asyncio.run(probe(prof, prof.site.simulated))
    devices = report["devices"]
    failed = [f"{e['device']} ({e['error']})" for e in devices if not e["ok"]]
    if not devices:
        raise StepFailed(N_("the profile has no devices to read"))
    if failed:
        raise StepFailed(N_("{n_failed} of {n_devices} devices did not answer: {value}"),
                         n_failed=len(failed), n_devices=len(devices), value='; '.join(failed))
    return Part(N_("{n} of {n} devices answered (emulated twins)") if report["simulated"]
                else N_("{n} of {n} devices answered"), {"n": len(devices)})


def step_selftest(prov: Provisioning, paths: Paths) -> Part:
    from gateway.commands.selftest import run_checks

    checks = run_checks(paths.state_dir, str(paths.profile))
    failed = [f"{c.name}: {c.detail}" for c in checks if c.status == "fail"]
    warned = [c.name for c in checks if c.status == "warn"]
    if failed:
        raise StepFailed("; ".join(failed))
    if warned:
        return Part(N_("{n} checks passed (warnings: {warnings})"), {"n": len(checks), "warnings": ", ".join(warned)})
    return Part(N_("{n} checks passed"), {"n": len(checks)})


STEP_FUNCS: dict[str, Callable[[Provisioning, Paths], Part]] = {
    "profile": step_profile, "init": step_init, "enroll": step_enroll, "token": step_token,
    "probe": step_probe, "selftest": step_selftest,
}


def attempt(paths: Paths, number: int) -> dict[str, Any]:
    """One pass over the steps, recorded as it goes. Raises ProvisionFileError for a wrong file."""
    try:
        prov = load_provisioning(paths.boot_file)
    except ProvisionFileError as exc:
        doc = new_state({"file": str(paths.boot_file)}, number)
        doc.update(status="failed", finished_at=time.time(), error=str(exc))
        write_provision_state(paths.state_dir, doc)
        raise
    doc = new_state(prov.public(), number)
    write_provision_state(paths.state_dir, doc)
    for step in doc["steps"]:
        step["at"] = time.time()
        try:
            said = STEP_FUNCS[step["name"]](prov, paths)
            step["message"] = redact(str(said), prov.token)
            step["message_text"] = _redacted_data(said, prov.token)
            step["status"] = "ok"
            log.info("provision step ok", extra={"step": step["name"], "detail": step["message"]})
        except ProvisionFileError as exc:
            step.update(status="failed", message=redact(str(exc), prov.token),
                        message_text=_redacted_data(exc, prov.token))
            doc.update(status="failed", finished_at=time.time(), error=step["message"])
            write_provision_state(paths.state_dir, doc)
            raise
        except Exception as exc:  # noqa: BLE001 - a failed step is recorded and retried, never a traceback
            msg = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
            step.update(status="failed", message=redact(msg, prov.token),
                        message_text=_redacted_data(exc, prov.token) if isinstance(exc, StepFailed) else
                        redact(msg, prov.token))
            doc.update(status="retrying", finished_at=time.time())
            write_provision_state(paths.state_dir, doc)
            log.warning("provision step failed", extra={"step": step["name"], "detail": step["message"]})
            return doc
        write_provision_state(paths.state_dir, doc)
    doc.update(status="done", finished_at=time.time())
    write_provision_state(paths.state_dir, doc)
    _give_state_to_service_user(paths.state_dir)  # last: the gateway's user must read the record too
    return doc


def _give_state_to_service_user(state_dir: Path) -> None:
    """As root, hand the state (key included) to the gateway's user, as install-service does."""
    ids = _service_ids()
    if ids is None:
        return
    for dirpath, dirnames, filenames in os.walk(state_dir):
        os.chown(dirpath, *ids)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), *ids, follow_symlinks=False)


def already_done(paths: Paths) -> dict[str, Any] | None:
    """The recorded result if this gateway was provisioned and the file holds no token to spend."""
    doc = read_provision_state(paths.state_dir)
    if not doc or doc.get("status") != "done":
        return None
    try:
        prov = load_provisioning(paths.boot_file)
    except ProvisionFileError:
        return doc
    return doc if prov.token is None else None


def run_with_retries(paths: Paths, *, base_s: float = 10.0, max_s: float = 600.0, max_attempts: int = 0,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Attempt until every step passes (or ``max_attempts``, 0 = no limit), waiting 10 s, 20 s, ...
    up to ``max_s`` between attempts. Raises ProvisionFileError at once for a wrong file."""
    previous = read_provision_state(paths.state_dir) or {}
    number = int(previous.get("attempt") or 0) if previous.get("status") != "done" else 0
    delays = Backoff(min(base_s, max_s), max_s).delays()
    tries = 0
    while True:
        number += 1
        tries += 1
        doc = attempt(paths, number)
        if doc["status"] == "done" or (max_attempts and tries >= max_attempts):
            if doc["status"] != "done":
                doc["status"] = "failed"
                write_provision_state(paths.state_dir, doc)
            return doc
        wait = next(delays)
        doc["next_retry_at"] = time.time() + wait
        write_provision_state(paths.state_dir, doc)
        sleep(wait)


def _redacted_data(said: object, secret: str | None) -> object:
    """A step's message as data a page or `edgeproof status` renders in its reader's language
    (gateway.i18n.as_data), with the token taken out of every value as from the English text."""
    data = as_data(said)
    if isinstance(data, str):
        return redact(data, secret)
    return json.loads(redact(json.dumps(data), secret))
