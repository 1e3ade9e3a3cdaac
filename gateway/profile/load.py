"""Loading a profile: TOML -> schema -> cross-references, with errors that name file, key and expectation."""

from __future__ import annotations

import copy
import importlib
import math
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from gateway.i18n import N_
from gateway.profile.schema import Device, Model, Profile
from gateway.user_error import KeyedError, Part

PROFILE_DIR = Path(__file__).resolve().parent.parent.parent / "hardware_profiles"
DRIVERS_DIR = Path(__file__).resolve().parent.parent.parent / "drivers"
DEFAULT_PROFILE = "sim-factory"


class ProfileError(KeyedError, ValueError):
    """A profile that cannot be used. The message is for an installer: file, key, expectation
    (``expected`` an ``N_`` template, its values as keywords: translated where shown, gateway.user_error)."""


_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
# What a counting camera counts: a production line's output, or goods leaving the site.
CAMERA_ROLES = ("line", "dispatch")


def _split_msgspec_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    text = str(exc)
    m = _PATH_RE.search(text)
    path = m.group("path").lstrip(".") if m else ""
    msg = text[: m.start()] if m else text
    field = re.search(r"(?:missing required field|unknown field) `([^`]+)`", msg)
    if field:
        path = f"{path}.{field.group(1)}" if path else field.group(1)
    return path or "(top level)", msg


def resolve_profile_path(name_or_path: str | Path | None) -> Path:
    """A path, or a short name of a shipped profile such as 'sim-factory'."""
    if name_or_path is None:
        name_or_path = DEFAULT_PROFILE
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    candidate = PROFILE_DIR / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    shipped = sorted(x.stem for x in PROFILE_DIR.glob("*.toml"))
    raise ProfileError(name_or_path, "(profile)", N_("no such file, and not a shipped profile {shipped}"),
                                                  shipped=shipped)


def find_model_file(name: str) -> Path | None:
    for path in sorted(DRIVERS_DIR.glob(f"**/maps/{name}.toml")):
        return path
    return None


def load_model_file(path: Path) -> Model:
    return _decode(path, Model)


def _decode(path: Path, typ: type) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(path, "(file)", N_("a readable TOML file ({strerror})"), strerror=exc.strerror) from exc
    try:
        # utf-8-sig: a profile saved by Notepad starts with a byte-order mark, which is not
        # TOML but says nothing about the content; drop it rather than report "line 1, column 1".
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ProfileError(path, "(file)", N_("UTF-8 text")) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(path, "(syntax)", N_("valid TOML ({error})"), error=exc) from exc
    except RecursionError as exc:
        raise ProfileError(path, "(syntax)", N_("tables and arrays nested at most {MAX_DEPTH} deep"),
                                             MAX_DEPTH=MAX_DEPTH) from exc
    check_plain_values(data, path)
    try:
        return msgspec.convert(data, typ, strict=True)
    except msgspec.ValidationError as exc:
        key, msg = _split_msgspec_error(exc)
        key = _name_dict_key(data, typ, key, str(exc))
        template, params = _explain(msg, key, data)
        raise ProfileError(path, key, template, **params) from exc


MAX_DEPTH = 16


def check_plain_values(data: Any, path: Path | str) -> None:
    """Refuse what no key of a profile may hold, wherever it is (the free-form sections
    too: params, options, sim, connectors): nan or infinite numbers, and nesting deeper
    than ``MAX_DEPTH``. Walks iteratively, so a hostile file cannot exhaust the stack."""
    todo: list[tuple[str, Any, int]] = [("", data, 0)]
    while todo:
        key, value, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise ProfileError(path, key or "(top level)", N_("tables and arrays nested at most {MAX_DEPTH} deep"),
                                                           MAX_DEPTH=MAX_DEPTH)
        if isinstance(value, float) and not math.isfinite(value):
            raise ProfileError(path, key, N_("a finite number (found {value})"), value=f'{value!r}')
        if isinstance(value, dict):
            todo.extend((f"{key}.{k}" if key else str(k), v, depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((f"{key}[{i}]", v, depth + 1) for i, v in enumerate(value))


def _name_dict_key(data: dict[str, Any], typ: type, key: str, error: str) -> str:
    """msgspec writes a failing table key as '[...]'; find which entry it was by validating
    the profile with one entry of that table at a time."""
    if "[...]" not in key:
        return key
    prefix, _, _rest = key.partition("[...]")
    table = _lookup(data, prefix)
    if not isinstance(table, dict):
        return key
    for name in table:
        trial = copy.deepcopy(data)
        holder = _lookup(trial, prefix)
        for other in list(holder):
            if other != name:
                del holder[other]
        try:
            msgspec.convert(trial, typ, strict=True)
        except msgspec.ValidationError as exc:
            if str(exc) == error:
                return key.replace("[...]", f".{name}", 1)
    return key


_PATTERN_WORDS = {
    r"^0*[1-9][0-9]{0,5}(s|m|h|d)$": N_("a duration such as '30s', '15m', '1h' or '1d' (not zero)"),
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$": N_("a name of letters, digits, '_', '.' or '-' (at most 64)"),
    r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$": N_("a dotted meaning such as 'energy.total_kwh'"),
}
# msgspec's own sentences, as templates: the English stays msgspec's wording, a reader of another language
# gets it translated (gateway.user_error). A sentence not listed here is shown as msgspec wrote it.
_MSGSPEC = (
    (re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$"), N_("Expected `{want}`, got `{got}`")),
    (re.compile(r"^Expected `(?P<want>[^`]+)` of length (?P<op>[<>]=?) (?P<bound>\S+)$"),
     N_("Expected `{want}` of length {op} {bound}")),
    (re.compile(r"^Expected `(?P<want>[^`]+)` (?P<op>[<>]=?) (?P<bound>\S+)$"), N_("Expected `{want}` {op} {bound}")),
    (re.compile(r"^Object missing required field `(?P<field>[^`]+)`$"), N_("Object missing required field `{field}`")),
    (re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$"), N_("Object contains unknown field `{field}`")),
    (re.compile(r"^Invalid enum value (?P<value>.+)$"), N_("Invalid enum value {value}")),
    (re.compile(r"^Expected `str` matching regex '(?P<pattern>.*)'$"), N_("Expected {words}")),
)


def msgspec_words(msg: str) -> Part:
    """msgspec's sentence as a marked message (its values kept), for a ProfileError's expectation."""
    template, params = _explain(msg, "", {})
    return Part(template, params)


def _explain(msg: str, key: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """msgspec says what was wrong; say it in an installer's words and add what was found.
    Returns a template and its values (ProfileError's expectation)."""
    template, params = N_("{error}"), {"error": msg}
    for rx, words in _MSGSPEC:
        m = rx.match(msg)
        if m is None:
            continue
        template, params = words, m.groupdict()
        if "pattern" in params:
            pattern = params.pop("pattern")
            if pattern not in _PATTERN_WORDS:
                template, params = N_("{error}"), {"error": msg}
            else:
                params["words"] = Part(_PATTERN_WORDS[pattern], {})
        break
    found = _lookup(data, key)
    if found is not _MISSING and "unknown field" not in msg and "missing" not in msg:
        return N_("{explanation} (found {found})"), {"explanation": Part(template, params), "found": repr(found)}
    return template, params


_MISSING = object()


def _lookup(data: Any, key: str) -> Any:
    cur = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        try:
            cur = cur[int(part[1:-1])] if part.startswith("[") else cur[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return _MISSING
    return cur


def load_profile(name_or_path: str | Path | None = None) -> Profile:
    """Load and validate a profile and every model it uses. Raises ProfileError."""
    path = resolve_profile_path(name_or_path)
    profile: Profile = _decode(path, Profile)
    _check_references(path, profile)
    # The sections owned by other subsystems ([privacy], [[connectors]], [shifts],
    # [collateral]) are validated here too, so probe and selftest see their errors.
    from gateway.consent.gate import check_sections

    check_sections(profile, str(path))
    return profile


def resolve_model(profile: Profile, device: Device, path: Path | str = "(profile)") -> Model | None:
    if device.model is None:
        return None
    if device.model in profile.models:
        return profile.models[device.model]
    file = find_model_file(device.model)
    if file is None:
        raise ProfileError(path, f"devices.{device.name}.model",
                           N_("a model under [models.{model}] or a shipped register map "
                              "(drivers/*/maps/{model}.toml); none found"), model=device.model)
    return load_model_file(file)


def _check_references(path: Path, profile: Profile) -> None:
    names: set[str] = set()
    buses = {b.name: b for b in profile.buses}
    if len(buses) != len(profile.buses):
        raise ProfileError(path, "buses", N_("unique bus names"))
    provided: dict[tuple[str, str], str] = {}
    bus_loads: dict[str, list[tuple[int, str, float, float]]] = {}
    for i, dev in enumerate(profile.devices):
        where = f"devices[{i}]"
        if dev.name in names:
            raise ProfileError(path, f"{where}.name", N_("a unique device name ({name} is used twice)"),
                                                      name=f'{dev.name!r}')
        names.add(dev.name)
        cav = dev.params.get("cavities")
        if cav is not None and (isinstance(cav, bool) or not isinstance(cav, int) or cav < 1):
            raise ProfileError(path, f"{where}.params.cavities",
                               N_("a whole number of parts per cycle >= 1 (found {cav})"), cav=f'{cav!r}')
        role = dev.params.get("role")
        if role is not None and role not in CAMERA_ROLES:
            raise ProfileError(path, f"{where}.params.role",
                               N_("one of {CAMERA_ROLES}: what the camera counts (found {role})"),
                               CAMERA_ROLES=list(CAMERA_ROLES), role=f'{role!r}')
        if dev.bus is not None and dev.bus not in buses:
            raise ProfileError(path, f"{where}.bus", N_("one of the declared buses {buses} (found {bus})"),
                                                     buses=sorted(buses), bus=f'{dev.bus!r}')
        driver = load_driver_module(dev.driver, path, f"{where}.driver")
        model = resolve_model(profile, dev, path)
        options_type = getattr(driver, "Options", None)
        if options_type is not None:
            try:
                msgspec.convert(dev.options, options_type, strict=True)
            except msgspec.ValidationError as exc:
                key, msg = _split_msgspec_error(exc)
                raise ProfileError(path, f"{where}.options.{key}", msgspec_words(msg)) from exc
        check = getattr(driver, "check_device", None)
        if check is not None:
            problem = check(dev, model, buses.get(dev.bus) if dev.bus else None)
            if problem:
                key, expected = problem
                raise ProfileError(path, f"{where}.{key}", expected)
        bus_time = getattr(driver, "bus_time_s", None)
        if bus_time is not None and dev.enabled and dev.bus in buses:
            bus_loads.setdefault(dev.bus, []).append(
                (i, dev.name, bus_time(dev, model, buses[dev.bus]), dev.poll_interval_s))
        point_names = {p.name for p in model.points} if model else None
        for pname in dev.ranges:
            if point_names is not None and pname not in point_names:
                raise ProfileError(path, f"{where}.ranges.{pname}",
                                   N_("a point of model {model} {point_names}"),
                                   model=dev.model, point_names=sorted(point_names))
        if model is not None and dev.enabled:
            for p in model.points:
                k = (dev.asset_name, p.meaning)
                if k in provided and provided[k] != dev.name:
                    raise ProfileError(path, f"{where}.asset",
                                       N_("one device per meaning per asset: {meaning} of asset {asset_name} already "
                                          "comes from {provided}"),
                                       meaning=p.meaning, asset_name=f'{dev.asset_name!r}', provided=f'{provided[k]!r}')
                provided[k] = dev.name
    _check_bus_time(path, buses, bus_loads)


def _check_bus_time(path: Path, buses: dict[str, Any], loads: dict[str, list[tuple[int, str, float, float]]]) -> None:
    """Serial lines: the configured polls must fit the wire time at the configured baud rate."""
    from drivers.modbus.bustime import budget_problem

    for bus_name, entries in loads.items():
        problem = budget_problem(buses[bus_name], [(name, wire, interval) for _, name, wire, interval in entries])
        if problem:
            worst = max(entries, key=lambda e: e[2] / e[3])
            raise ProfileError(path, f"devices[{worst[0]}].poll_interval_s", problem)


def load_driver_module(kind: str, path: Path | str = "(profile)", key: str = "driver") -> Any:
    """Drivers are found by module name: ``drivers/<kind>.py``, bus devices and cameras alike. Adding a
    device adds a module. Only modules that expose ``DRIVER`` are drivers (:func:`known_drivers`); any other
    name, including a package of shared code (``support``, ``modbus``, ``sim``), is refused here, before anything
    is imported, not at start."""
    known = known_drivers()
    if kind not in known:
        raise ProfileError(path, key, N_("a known driver {value} (found {kind}, not a driver)"),
                           value=known, kind=f"{kind!r}")
    try:
        return importlib.import_module(f"drivers.{kind}")
    except ModuleNotFoundError as exc:
        raise ProfileError(path, key, N_("driver {kind} needs the Python package {name}: install the matching "
                                         "extra (pip install 'edgeproof[pi]')"),
                           kind=f"{kind!r}", name=f"{exc.name!r}") from exc


_DRIVER_LINE = re.compile(r"^DRIVER\b", re.MULTILINE)


@lru_cache(maxsize=1)
def _driver_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in DRIVERS_DIR.glob("*.py") if _DRIVER_LINE.search(p.read_text(encoding="utf-8"))))


def known_drivers() -> list[str]:
    """The modules ``drivers/<kind>.py`` that declare ``DRIVER`` (read as text: listing them must not import
    optional packages). What drivers share lives in ``drivers/support/``, their emulators in ``drivers/sim/``."""
    return list(_driver_names())
