"""The gateway keeps a view only when it is the receiver's signed answer to its own request."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from gateway import wire
from gateway.enterprise_view import store
from gateway.enterprise_view.fetch import ViewError, fetch, verify_view
from gateway.identity import Identity

GW = SigningKey.generate()
RECEIVER = SigningKey.generate()


def ident(enrolled: bool = True) -> Identity:
    pk = bytes(GW.verify_key)
    enr = {"enterprise_id": "ent-1", "receiver_url": "http://127.0.0.1:9", "receiver_public_key":
           wire.b64(bytes(RECEIVER.verify_key))} if enrolled else None
    return Identity("gw-1", wire.key_id(pk), pk, GW, enr)


def page(key: SigningKey = RECEIVER, **over: object) -> dict:
    p = {"kind": "enterprise_view", "enterprise_id": "ent-1", "gateway_id": "gw-1", "request_nonce": "n" * 32,
         "findings": [{"id": 1, "detail": {"value": 1.0}}], **over}
    return {**p, "page_signature": wire.sign_report(p, key)}


def test_the_signed_answer_to_this_request_is_accepted():
    assert verify_view(page(), bytes(RECEIVER.verify_key), ident(), "n" * 32)["findings"][0]["id"] == 1


@pytest.mark.parametrize(("bad", "message"), [
    (page(SigningKey.generate()), "signature"),  # another key than the one pinned at enrollment
    (page(request_nonce="m" * 32), "request_nonce"),  # an old answer replayed
    (page(enterprise_id="ent-2"), "enterprise_id"),
    (page(gateway_id="gw-2"), "gateway_id"),
    (page(kind="enterprises"), "kind"),
    ({**page(), "findings": [{"id": 1, "detail": {"value": 1}}]}, "differs"),  # 1.0 signed, 1 served
    ({"kind": "enterprise_view"}, "not a signed page"),
])
def test_anything_else_is_refused(bad, message):
    with pytest.raises(ViewError, match=message):
        verify_view(bad, bytes(RECEIVER.verify_key), ident(), "n" * 32)


def test_not_enrolled_or_unreachable_says_so_and_keeps_the_last_copy(tmp_path):
    with pytest.raises(ViewError, match="not enrolled"):
        fetch(tmp_path, ident(enrolled=False))
    store.save(tmp_path, {"fetched_at": "x", "receiver": "r", "view": {"kind": "enterprise_view"}})
    assert (tmp_path / store.VIEW_FILE).stat().st_mode & 0o777 == 0o600
    with pytest.raises(ViewError, match="cannot reach the receiver"):
        fetch(tmp_path, ident(), timeout_s=2)
    assert store.load(tmp_path)["fetched_at"] == "x"
