"""The operator's fleet API: every gateway with last contact, last seq, version, state and latest health.

``GET /v1/fleet/gateways[?enterprise=ENT]`` and ``GET /v1/fleet/gateways/{gateway_id}``, for an
operator bearer token (cloud_stub/operators.py; a bank token is refused: a bank sees only the
enterprises that authorised it, through the feed). Plain JSON, not signed: this is the operator's
own view of the receiver; what banks rely on is in the signed feed (the health records and the
fleet alerts).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from cloud_stub import feed_models, fleet, operators
from cloud_stub.db import Store, iso, utc_now
from cloud_stub.errors import ReceiverError

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": feed_models.ErrorResponse, "description": "bad_request: a parameter is invalid"},
    401: {"model": feed_models.ErrorResponse, "description": "unauthenticated: no, unknown or revoked operator token"},
}
_ONE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS, 404: {"model": feed_models.ErrorResponse, "description": "unknown_gateway"}}


class FleetGateway(BaseModel):
    gateway_id: str
    enterprise_id: str
    enrolled_at: str
    last_contact: str | None
    last_contact_age_s: float
    last_seq: int
    version: str | None
    state: str
    key_protection: str | None = Field(None, description="weakest protection of its live keys: file, tpm or "
                                                         "tpm-attested (null: no live key)")
    health: dict[str, Any] | None
    health_seq: int | None
    health_time: str | None
    health_received: str | None
    thresholds: dict[str, Any]


class FleetPage(BaseModel):
    kind: str
    as_of: str
    enterprise_id: str | None
    counts: dict[str, int]
    gateways: list[FleetGateway]


def fleet_page(rdb: Store, enterprise_id: str | None) -> dict[str, Any]:
    """The page ``cloud gateways --json`` prints and the API serves."""
    items = fleet.gateways(rdb, enterprise_id)
    counts = {s: sum(1 for g in items if g["state"] == s) for s in fleet.STATES}
    return {"kind": "fleet", "as_of": iso(utc_now()), "enterprise_id": enterprise_id, "counts": counts,
            "gateways": items}


def router(rdb: Store) -> APIRouter:
    r = APIRouter(tags=["operator fleet"])

    @r.get("/v1/fleet/gateways", response_model=FleetPage, responses=_ERRORS)
    def list_gateways(authorization: str | None = Header(None),
                      enterprise: str | None = Query(None, max_length=128,
                                                     description="only this enterprise's gateways")) -> Any:
        """Every gateway (or one enterprise's) with state online / late / silent / revoked and its latest health."""
        operators.authenticate(rdb, authorization)
        return fleet_page(rdb, enterprise)

    @r.get("/v1/fleet/gateways/{gateway_id}", response_model=FleetGateway, responses=_ONE_ERRORS)
    async def one_gateway(gateway_id: str, authorization: str | None = Header(None)) -> Any:
        """One gateway of the fleet list."""
        await run_in_threadpool(operators.authenticate, rdb, authorization)
        items = await run_in_threadpool(lambda: fleet.gateways(rdb, gateway_id=gateway_id))
        if not items:
            raise ReceiverError("unknown_gateway", f"no gateway {gateway_id!r}", 404, status="error")
        return items[0]

    return r
