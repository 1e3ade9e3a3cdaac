"""The profile schema.

A profile separates the *model* (a device type's register map or point list: address,
type, word order, scale, unit, meaning) from the *installed device* (bus, host or port,
unit id, poll interval), so one register map serves many installs (EdgeX's device
profile / device split). Models live as data files under ``drivers/*/maps/`` or inline
under ``[models.NAME]`` in the profile.

Everything is a msgspec Struct with ``forbid_unknown_fields`` so a typo in a key is an
error that names the key, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

# Every number a profile holds is bounded: an infinite poll interval or timeout is a
# crash loop or a hang, not a setting (nan and inf are refused at load, see load.py too).
MAX_SECONDS = 366 * 86400.0
PositiveFloat = Annotated[float, msgspec.Meta(gt=0, le=1e12)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]
FiniteFloat = Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)]
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Meaning = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")]
# A window of zero length divides by zero at every start: at least one unit.
Duration = Annotated[str, msgspec.Meta(pattern=r"^0*[1-9][0-9]{0,5}(s|m|h|d)$")]

DataType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "bool"]
Order = Literal["big", "little"]
Table = Literal["input", "holding", "coil", "discrete"]


class _S(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class PointDef(_S):
    """One value a device yields. For Modbus, address/type/table locate and decode it."""

    name: Name
    meaning: Meaning
    unit: str = ""
    address: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    table: Table = "input"
    type: DataType = "float32"
    word_order: Order | None = None
    byte_order: Order | None = None
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0
    # Plausibility: values outside are stored with quality out_of_range, never dropped.
    range: Annotated[list[FiniteFloat], msgspec.Meta(min_length=2, max_length=2)] | None = None
    # A value unchanged for longer than this is flagged stale (a frozen sensor or PLC).
    stuck_after_s: Seconds | None = None
    # Cumulative counters: energy, volume, cycles. Rollover is the counter's wrap value.
    counter: bool = False
    rollover: Annotated[float, msgspec.Meta(gt=0, le=2.0**64)] | None = None


IdentityType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "ascii"]


class IdentityReg(_S):
    """Where a device keeps one identity value (serial number, model code, firmware version).

    Integers are read as their decimal string; ``ascii`` reads ``count`` registers as text (two
    characters per register, NULs and spaces trimmed). Read at start, after a recovery and daily,
    never on every poll (drivers/modbus/identity.py).
    """

    address: Annotated[int, msgspec.Meta(ge=0, le=65535)]
    table: Literal["input", "holding"] = "holding"
    type: IdentityType = "uint32"
    count: Annotated[int, msgspec.Meta(ge=1, le=32)] | None = None
    word_order: Order | None = None
    byte_order: Order | None = None


class Identity(_S):
    """A model's identity registers (optional): what tells one physical meter from another."""

    serial: IdentityReg | None = None
    model: IdentityReg | None = None
    firmware: IdentityReg | None = None


class Model(_S):
    name: Name
    manufacturer: str = ""
    description: str = ""
    protocol: str = "modbus"
    word_order: Order = "big"
    byte_order: Order = "big"
    # Coalescing: registers at most max_gap apart are read in one request, up to max_regs.
    max_gap: Annotated[int, msgspec.Meta(ge=0, le=120)] = 8
    max_regs: Annotated[int, msgspec.Meta(ge=1, le=125)] = 125
    points: list[PointDef] = []
    # Identity registers (serial, model, firmware) where the device has them: a swapped meter shows.
    identity: Identity | None = None


LOCALES = ("en", "zh-CN")  # the catalogs shipped in gateway/locale (docs/i18n.md)


class Site(_S):
    id: Name
    name: str = ""
    timezone: str = "UTC"
    simulated: bool = False
    # Who the enterprise's staff contact with an enquiry or complaint about how their data is used
    # (the service's operator or the bank's desk: a phone number, an address); shown on the status page.
    complaint_contact: Annotated[str, msgspec.Meta(max_length=300)] = ""
    # The language of the status page and the CLI on this site (docs/i18n.md); None: the environment's
    # (LANGUAGE / LC_ALL / LANG) for the CLI, the browser's for the page; English when neither is supported.
    locale: str | None = None

    def __post_init__(self) -> None:
        if self.locale is not None and self.locale not in LOCALES:
            raise ValueError(f"locale must be one of {', '.join(LOCALES)} (found {self.locale!r})")


class StoreCfg(_S):
    path: str = "edgeproof.db"
    retention_days: PositiveFloat = 90.0
    max_mb: PositiveFloat = 2048.0
    # Acknowledged batches stay in the outbox this long (bounded by max_mb: past the cap the
    # oldest acknowledged go first), so a receiver restored from an older backup can ask for
    # them again (docs/wire-format.md, "Resending to a restored receiver").
    retain_acked_days: Annotated[float, msgspec.Meta(ge=0)] = 14.0
    # FULL survives a real power cut, not just a process kill; commits are batched so
    # the fsync cost is paid a few times a second at most.
    synchronous: Literal["NORMAL", "FULL"] = "FULL"
    flush_interval_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.25


class IndicatorsCfg(_S):
    windows: list[Duration] = msgspec.field(default_factory=lambda: ["15m", "1h"])
    # How long after a window closes before it is computed (late readings still count).
    grace_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)] = 5.0
    interval_s: Seconds = 5.0


class MqttCfg(_S):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    username: str | None = None
    password_file: str | None = None
    tls: bool = False
    cafile: str | None = None
    topic_prefix: str = "edgeproof/v1"
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=65535)] = 30


class UplinkCfg(_S):
    transport: Literal["http", "mqtt", "none"] = "http"
    url: str | None = None
    mqtt: MqttCfg = msgspec.field(default_factory=MqttCfg)
    batch_max_records: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 500
    interval_s: Seconds = 5.0
    timeout_s: Seconds = 10.0
    backoff_initial_s: Seconds = 0.5
    backoff_max_s: Seconds = 60.0
    # How often the gateway signs a head statement while idle (and right after acks): the
    # oldest head a bank sees while the gateway is up (gateway/uplink/heads.py).
    head_interval_s: Seconds = 300.0
    # How often the gateway fetches its enterprise's view (score, findings, decisions on disputes)
    # from the receiver, signed with its own key (gateway/enterprise_view); 0 = only on demand.
    view_interval_s: Annotated[float, msgspec.Meta(ge=0, le=366 * 86400)] = 900.0
    # How often the gateway signs a health summary into its chain (gateway/uplink/health.py): the
    # receiver's fleet list and silence alarms hear from it at least this often while it is up.
    health_interval_s: Seconds = 300.0
    # Cellular links (issue 17): "auto" sends batches as zstd-compressed compact envelopes once the receiver
    # lists them in GET /v1/capabilities (HTTP only for now); "off" always sends JSON envelopes.
    compression: Literal["off", "auto"] = "off"


class StatusCfg(_S):
    enabled: bool = True
    # LAN only: bind to the gateway's LAN address (or loopback), never a public one.
    bind: str = "127.0.0.1:8080"
    password_file: str | None = None


class Bus(_S):
    name: Name
    kind: Literal["tcp", "serial", "i2c", "gpio", "file"]
    port: str | None = None
    baudrate: Annotated[int, msgspec.Meta(ge=300, le=921600)] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    timeout_s: Seconds = 0.5
    # Quiet time some RS485 slaves need between requests (a field workaround).
    inter_request_ms: Annotated[float, msgspec.Meta(ge=0, le=60_000)] = 0.0
    i2c_bus: Annotated[int, msgspec.Meta(ge=0, le=255)] = 1


class Device(_S):
    name: Name
    driver: Name
    model: Name | None = None
    bus: Name | None = None
    host: str | None = None
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    unit_id: Annotated[int, msgspec.Meta(ge=0, le=247)] = 1
    address: Annotated[int, msgspec.Meta(ge=0, le=127)] | None = None
    poll_interval_s: Seconds = 5.0
    timeout_s: Seconds = 1.0
    # Indicators group devices by asset (a press with its meter and cycle counter).
    asset: Name | None = None
    enabled: bool = True
    # Per-device indicator parameters, e.g. on_threshold_kw for machine-on minutes.
    params: dict[str, Any] = {}
    # Driver-specific options, validated by the driver's own Options struct.
    options: dict[str, Any] = {}
    # Per-point plausibility overrides: {point = [min, max]}.
    ranges: dict[str, Annotated[list[FiniteFloat], msgspec.Meta(min_length=2, max_length=2)]] = {}
    # Emulated twin: scenario and parameters for the device's emulator (simulate mode).
    sim: dict[str, Any] = {}

    @property
    def asset_name(self) -> str:
        return self.asset or self.name


class Profile(_S):
    site: Site
    schema_version: Literal[1] = 1
    store: StoreCfg = msgspec.field(default_factory=StoreCfg)
    indicators: IndicatorsCfg = msgspec.field(default_factory=IndicatorsCfg)
    uplink: UplinkCfg = msgspec.field(default_factory=UplinkCfg)
    status: StatusCfg = msgspec.field(default_factory=StatusCfg)
    buses: list[Bus] = []
    devices: list[Device] = []
    models: dict[str, Model] = {}
    # Sections owned by later subsystems (consent, privacy, connectors, vision, shifts,
    # collateral) are validated by those subsystems' own schemas at load time.
    consent: dict[str, Any] = {}
    privacy: dict[str, Any] = {}
    connectors: list[dict[str, Any]] = []
    products: dict[str, Any] = {}  # the product master (gateway/connectors/products.py)
    cameras: list[dict[str, Any]] = []
    shifts: dict[str, Any] = {}
    collateral: dict[str, Any] = {}
    board: dict[str, Any] = {}
