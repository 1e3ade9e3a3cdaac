"""The receiver's HTTP API (FastAPI): ingest, enrollment, keys, bank feed.

Thin on purpose: every decision lives in ingest/enrollment/banks/feed so MQTT and the
CLI behave identically. Errors are ``{"status": "rejected"|"error", "code", "message"}``
with stable codes; OpenAPI is served at /openapi.json.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_stub import banks, enrollment, feed, findings, receiver_key
from cloud_stub.db import ReceiverDB
from cloud_stub.errors import ReceiverError
from cloud_stub.ingest import ingest
from gateway import wire

log = logging.getLogger("cloud_stub.http")


class EnrollRequest(BaseModel):
    token: str
    gateway_id: str
    public_key: str
    proof: str


DRAIN_LIMIT = 64 * 1024 * 1024

_ENVELOPE_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A gateway.wire envelope: {format, kid, body (base64 canonical JSON), sig (base64)}",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


async def _read_limited(request: Request, limit: int) -> bytes:
    """Read the request body, keeping at most ``limit`` bytes.

    An oversized body is still drained (up to DRAIN_LIMIT) before answering, so the client
    reads our ``too_large`` reply instead of a broken pipe.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            break
    if size > limit:
        raise ReceiverError("too_large", f"envelope is over {limit} bytes", 400)
    return b"".join(chunks)


def create_app(rdb: ReceiverDB, signing_key: SigningKey) -> FastAPI:
    """The ASGI app over one open database and the receiver's signing key."""
    app = FastAPI(
        title="EdgeProof receiver",
        version="1",
        description="Ingest of signed gateway batches, gateway enrollment, and the bank feed.",
    )
    key_info = receiver_key.public_info(signing_key)

    @app.exception_handler(ReceiverError)
    async def _receiver_error(_: Request, exc: ReceiverError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"status": "error", "code": code, "message": str(exc.detail)},
                            status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
        return JSONResponse(
            {"status": "error", "code": "bad_request", "message": f"invalid or missing fields: {fields}"},
            status_code=400,
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/batches", openapi_extra=_ENVELOPE_DOC)
    async def post_batch(request: Request) -> JSONResponse:
        """Submit one signed batch envelope. 200 accepted/duplicate; 4xx rejected with a stable code."""
        data = await _read_limited(request, wire.MAX_ENVELOPE_BYTES)
        result = await run_in_threadpool(ingest, rdb, data, "http")
        return JSONResponse(result.to_json(), status_code=result.http_status)

    @app.post("/v1/enroll")
    def post_enroll(req: EnrollRequest) -> dict[str, str]:
        """Register a gateway key with a one-time token and a proof of possession."""
        out = enrollment.enroll(rdb, req.token, req.gateway_id, req.public_key, req.proof)
        log.info("enrolled", extra={"event": "enroll", "gateway": out["gateway_id"], "kid": out["kid"],
                                     "enterprise": out["enterprise_id"]})
        return {**out, "receiver_kid": key_info["kid"], "receiver_public_key": key_info["public_key"]}

    @app.get("/v1/gateways/{gateway_id}/keys")
    def get_keys(gateway_id: str) -> dict[str, Any]:
        """Public: every key of a gateway, with enrollment and revocation times."""
        return enrollment.gateway_keys(rdb, gateway_id)

    @app.get("/v1/receiver/key")
    def get_receiver_key() -> dict[str, str]:
        """The key that signs feed pages; banks should pin it out of band."""
        return key_info

    @app.get("/v1/feed/{enterprise_id}/records")
    def get_records(
        enterprise_id: str,
        cursor: str | None = None,
        limit: int = Query(feed.DEFAULT_LIMIT, ge=1, le=feed.MAX_LIMIT),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        """A signed page of records with their batches; follow ``next_cursor`` until null."""
        banks.authorise(rdb, authorization, enterprise_id)
        return JSONResponse(feed.feed_page(rdb, enterprise_id, cursor, limit, signing_key))

    @app.get("/v1/feed/{enterprise_id}/findings")
    def get_findings(
        enterprise_id: str,
        after: int = 0,
        limit: int = Query(1000, ge=1, le=10000),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        """Gaps, equivocations and rejected batches of that enterprise's gateways."""
        banks.authorise(rdb, authorization, enterprise_id)
        with rdb.read() as conn:
            items = findings.list_findings(conn, enterprise_id, after, limit)
        return {"enterprise_id": enterprise_id, "findings": items}

    return app
