"""The bank feed's response shapes, for the OpenAPI description (``/openapi.json``).

The handlers return the JSON built by ``feed.py`` as is (signatures cover exact values, so
nothing is re-serialised through these models); the models exist so a bank's developer
can read every field, and so the description cannot drift silently: a test compares
served pages with these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every error: a stable machine-readable ``code`` and a message for people."""

    status: Literal["rejected", "error"]
    code: str = Field(description="e.g. unauthenticated, forbidden, bad_cursor, bad_limit, bad_request, no_score")
    message: str


class Signed(BaseModel):
    """``gateway.wire.sign_report`` output: base64 canonical JSON, base64 Ed25519 signature, key id."""

    body: str
    sig: str
    kid: str


class Batch(BaseModel):
    """A gateway-signed batch exactly as accepted: base64 body bytes, signature, key id."""

    body: str
    sig: str
    kid: str


class WithheldBatch(BaseModel):
    """A batch of the chain the bank may not read (it holds an ungranted category)."""

    hash: str = Field(description="sha256 hex of the body bytes; the next batch's signed prev")
    gateway_id: str
    seq: int
    categories: list[str]
    record_count: int
    dropped: list[int] | None = Field(None, description="the gap the gateway declared in this batch, if any")
    kid: str | None = Field(None, description="the key that signed the batch")
    prev: str | None = Field(None, description="the batch's signed prev (null without head_sig)")
    head_sig: str | None = Field(
        None, description="base64 Ed25519 signature by the gateway over b'EdgeProof head v1\\x00' + canonical JSON"
        " of {v: 1, gateway, enterprise, kid, seq, prev, hash, categories, records, dropped} (this stub's fields;"
        " records = record_count, enterprise = the page's); null for batches from gateways without head signatures")


class FeedRecord(BaseModel):
    id: int
    gateway_id: str
    seq: int
    index: int = Field(description="position in the batch body's records array")
    batch_hash: str
    replayed: bool = Field(description="the batch body carries a 'replay' object (history, not live)")
    record: dict[str, Any]


class RecordsPage(BaseModel):
    enterprise_id: str
    cursor: str | None
    records: list[FeedRecord]
    batches: dict[str, Batch]
    withheld: list[WithheldBatch]
    next_cursor: str | None
    resume_cursor: str | None
    page_signature: Signed


class EnterpriseGrant(BaseModel):
    enterprise_id: str
    terminated: str | None = Field(None, description="set when the enterprise was offboarded (the date): its feeds "
                                                     "answer 410 terminated")
    categories: list[str] = Field(description='["*"] for all categories; the grant after the enterprise\'s signed '
                                              'consent')
    granted_at: str | None
    consent: str | None = Field(None, description="consent: limited by the enterprise's signed consent; no_consent: "
                                                  "no consent record (old chains), the operator grant alone")
    key_protection: str | None = Field(None, description="the weakest protection of the enterprise's live gateway "
                                                         "keys: file, tpm or tpm-attested (null: no live key)")


class EnterprisesPage(BaseModel):
    kind: Literal["enterprises"]
    bank: str
    enterprises: list[EnterpriseGrant]
    page_signature: Signed


class Window(BaseModel):
    start: int
    len: int


class Indicator(BaseModel):
    id: int = Field(description="the record id in the records feed")
    name: str
    subject: str | None
    category: str
    window: Window
    value: float | int | bool | None
    unit: str | None
    quality: list[str]
    def_: int | None = Field(None, alias="def")
    replayed: bool
    gateway_id: str
    seq: int
    batch_hash: str
    index: int
    detail: dict[str, Any] | None = None


class _ListPage(BaseModel):
    enterprise_id: str
    cursor: str | None
    next_cursor: str | None
    resume_cursor: str | None
    page_signature: Signed = Field(description="wire.sign_report over the page without this field")


class IndicatorsPage(_ListPage):
    kind: Literal["indicators"]
    filters: dict[str, Any]
    items: list[Indicator]


class Finding(BaseModel):
    id: int
    kind: str = Field(description="a chain event (equivocation, gap_declared, ...) or a rule id")
    severity: str
    enterprise_id: str | None
    gateway_id: str | None
    created: str
    rule_version: int | None
    subscore: str | None
    window_start: int | None
    window_end: int | None
    detail: dict[str, Any] | None = Field(None, description="absent when withheld")
    withheld: bool | None = Field(None, description="true: the finding is about ungranted categories")
    prev: str | None = Field(None, description="hash of the previous finding (64 zeros for the first; null "
                             "for one stored before chaining): cloud_stub/feed_chain.py")
    hash: str | None = Field(None, description="sha256 of canonical JSON of {chain, fields, detail_sha256, prev}")
    detail_sha256: str = Field(description="sha256 of the canonical JSON of detail (given even when withheld)")


class FindingsPage(_ListPage):
    kind: Literal["findings"]
    items: list[Finding]
    findings: list[Finding] = Field(description="same as items (the name used before cursors)")


class Alert(BaseModel):
    id: int
    enterprise_id: str
    kind: str
    level: str
    created: str
    detail: dict[str, Any] | None = None
    withheld: bool | None = None
    prev: str | None = Field(None, description="hash of the previous alert (64 zeros for the first; null "
                             "for one stored before chaining): cloud_stub/feed_chain.py")
    hash: str | None = Field(None, description="sha256 of canonical JSON of {chain, fields, detail_sha256, prev}")
    detail_sha256: str = Field(description="sha256 of the canonical JSON of detail (given even when withheld)")


class AlertsPage(_ListPage):
    kind: Literal["alerts"]
    items: list[Alert]


class Score(BaseModel):
    id: int
    enterprise_id: str
    as_of: int
    created: str
    score: float | None
    grade: str | None
    warning_level: str | None
    report: dict[str, Any] = Field(description="the score report (redacted for a category-limited grant, "
                                   "which also gets its own recomputable view as report.view)")
    signature: Signed = Field(description="wire.sign_report(report, receiver key)")


class ScoresPage(_ListPage):
    kind: Literal["scores"]
    items: list[Score]


class LatestScore(BaseModel):
    kind: Literal["score"]
    enterprise_id: str
    item: Score
    page_signature: Signed


class ChainHead(BaseModel):
    """The receiver's own word on a gateway's chain: its last accepted seq and that batch's hash."""

    seq: int
    hash: str


class GatewayHeads(BaseModel):
    """One gateway's head statements, newest first, each exactly as the gateway signed it
    (base64 canonical bytes, Ed25519 signature under ``EdgeProof headstmt v1``, key id)."""

    gateway_id: str
    chain: ChainHead
    statements: list[Batch]


class HeadsPage(BaseModel):
    kind: Literal["heads"]
    enterprise_id: str
    gateways: list[GatewayHeads]
    page_signature: Signed
