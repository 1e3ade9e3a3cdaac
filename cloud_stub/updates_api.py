"""GET /v1/updates/latest: the newest release bundle for the calling gateway (an APIRouter, kept
apart from http_api.py). Authenticated by the gateway's enrolled key (cloud_stub/releases.py);
the bundle itself is verified by the gateway against its pinned release key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool
from packaging.version import InvalidVersion, Version

from cloud_stub import releases
from cloud_stub.db import Store
from cloud_stub.errors import ReceiverError

_ERROR = {"content": {"application/json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The bundle (a signed tar); headers X-EdgeProof-Release-Version and "
                         "X-EdgeProof-Release-SHA256.", "content": {"application/octet-stream": {}}},
    204: {"description": "No release newer than `have` for this gateway."},
    400: {"description": "`have` is not a PEP 440 version.", **_ERROR},
    401: {"description": "Not signed by an enrolled, unrevoked gateway key within the time skew.", **_ERROR},
}


def router(rdb: Store) -> APIRouter:
    r = APIRouter()

    @r.get("/v1/updates/latest", responses=RESPONSES, response_class=Response)
    async def get_latest_update(authorization: str | None = Header(None),
                                have: str = Query("", max_length=64, description="The version the gateway runs.")
                                ) -> Response:
        """The newest release bundle for this gateway's enterprise, if newer than `have`."""
        if have:
            try:
                Version(have)
            except InvalidVersion as exc:
                raise ReceiverError("bad_request", f"have: {have[:64]!r} is not a PEP 440 version",
                                    status="error") from exc
        who = await run_in_threadpool(releases.authenticate, rdb, authorization, have)
        found = await run_in_threadpool(releases.latest_for, rdb, who["enterprise_id"], have)
        if found is None:
            return Response(status_code=204)
        version, data, digest = found
        return Response(data, media_type="application/octet-stream",
                        headers={"X-EdgeProof-Release-Version": version, "X-EdgeProof-Release-SHA256": digest})

    return r
