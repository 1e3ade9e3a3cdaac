"""Bank feed routes that say the findings, reasons and alerts in words, in the bank's language.

The structured, signed feeds (/findings, /alerts, /scores/latest) are untouched: these routes
read the same pages (same grant, same withholding) and add text made by finding_text.py. The
language is ``?lang=`` (``en`` or ``zh-CN``), else the request's Accept-Language, else English.
Each answer is signed by the receiver key like every feed page (its own signature: the text
is the receiver's rendering, the numbers it quotes are checkable against the structured feed).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse
from nacl.signing import SigningKey

from cloud_stub import banks, feed, feed_models, finding_text
from cloud_stub.db import ReceiverDB
from cloud_stub.i18n import SUPPORTED, from_accept_language, resolve

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": feed_models.ErrorResponse, "description": "bad_cursor, bad_limit, bad_request"},
    401: {"model": feed_models.ErrorResponse, "description": "unauthenticated: no or unknown bank token"},
    403: {"model": feed_models.ErrorResponse,
          "description": "forbidden: not authorised for this enterprise (also for unknown enterprises)"},
}
LANG_DOC = f"language of the text: one of {', '.join(SUPPORTED)}; default: Accept-Language, else en"


def locale_of(lang: str | None, accept_language: str | None) -> str:
    return resolve(lang, from_accept_language(accept_language))


def register(app: FastAPI, rdb: ReceiverDB, signing_key: SigningKey) -> None:
    tags = ["bank feed (text)"]

    @app.get("/v1/feed/{enterprise_id}/findings/text", tags=tags, responses=_ERRORS)
    def get_findings_text(
        enterprise_id: str,
        lang: str | None = Query(None, max_length=35, description=LANG_DOC),
        cursor: str | None = Query(None, description="as for /findings"),
        limit: int = Query(100, description="1..1000"),
        authorization: str | None = Header(None),
        accept_language: str | None = Header(None, max_length=512),
    ) -> JSONResponse:
        """The findings page (as /findings) with each finding said in words: title, severity, sentence, numbers."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        feed.check_limit(limit, 1000)
        loc = locale_of(lang, accept_language)
        page = feed.findings_page(rdb, grant, signing_key, cursor=cursor, after_id=None, limit=limit)
        items = [finding_text.render_finding(i, loc) for i in page["items"]]
        return JSONResponse(feed.sign_page({"kind": "findings_text", "locale": loc, "enterprise_id": enterprise_id,
                                            "items": items, "next_cursor": page["next_cursor"]}, signing_key))

    @app.get("/v1/feed/{enterprise_id}/alerts/text", tags=tags, responses=_ERRORS)
    def get_alerts_text(
        enterprise_id: str,
        lang: str | None = Query(None, max_length=35, description=LANG_DOC),
        cursor: str | None = Query(None, description="as for /alerts"),
        limit: int = Query(100, description="1..1000"),
        authorization: str | None = Header(None),
        accept_language: str | None = Header(None, max_length=512),
    ) -> JSONResponse:
        """The alerts page (as /alerts) with each alert said in words."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        feed.check_limit(limit, 1000)
        loc = locale_of(lang, accept_language)
        page = feed.alerts_page(rdb, grant, signing_key, cursor=cursor, limit=limit)
        items = [finding_text.render_alert(i, loc) for i in page["items"]]
        return JSONResponse(feed.sign_page({"kind": "alerts_text", "locale": loc, "enterprise_id": enterprise_id,
                                            "items": items, "next_cursor": page["next_cursor"]}, signing_key))

    @app.get("/v1/feed/{enterprise_id}/scores/latest/text", tags=tags,
             responses={**_ERRORS, 404: {"model": feed_models.ErrorResponse, "description": "no_score"}})
    def get_latest_score_text(
        enterprise_id: str,
        lang: str | None = Query(None, max_length=35, description=LANG_DOC),
        authorization: str | None = Header(None),
        accept_language: str | None = Header(None, max_length=512),
    ) -> JSONResponse:
        """The latest score's grade, warning level and reason codes in words."""
        grant = banks.authorise(rdb, authorization, enterprise_id)
        loc = locale_of(lang, accept_language)
        item = feed.latest_score(rdb, grant, signing_key)["item"]
        report = item.get("report") if isinstance(item.get("report"), dict) else {}
        return JSONResponse(feed.sign_page({"kind": "score_text", "locale": loc, "enterprise_id": enterprise_id,
                                            "score_id": item.get("id"), "as_of": item.get("as_of"),
                                            **finding_text.render_reasons(report, loc)}, signing_key))
