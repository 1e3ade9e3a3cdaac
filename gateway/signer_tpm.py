"""A gateway key made inside a TPM 2.0 and kept there: ECDSA P-256, signatures only, through tpm2-pytss.

Why a TPM: a key file can be copied with the SD card, and the copy signs as the gateway. A key
created by the TPM with ``fixedtpm|fixedparent|sensitivedataorigin`` is generated inside it and
cannot be exported, duplicated or loaded anywhere else; the gateway only asks it for signatures.
TPMs sign ECDSA P-256 (not Ed25519), so such a gateway's key id starts ``p256:`` (gateway/wire/__init__.py).

The key is made persistent (``EvictControl`` to a handle in the owner range, default
``0x81010045``) so it survives restarts and power cuts; ``identity.json`` records the handle and
the TCTI (how to reach the TPM: ``device:/dev/tpmrm0`` on a Pi with a SPI TPM module, or
``swtpm:host=127.0.0.1,port=2321`` for the software TPM). tpm2-pytss is an optional extra
(``pip install edgeproof[tpm]``) imported only here.

At enrollment the gateway also sends the key's public area (TPM2B_PUBLIC, which carries its
attributes) and a TPM2_Certify of the key by an attestation key (a restricted signing key under
the endorsement hierarchy) over a nonce bound to the enrollment; cloud_stub/key_attestation.py
checks both. What that does and does not prove is in docs/wire-format.md ("P-256 keys").
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from typing import Any

from gateway import wire
from gateway.i18n import N_
from gateway.user_error import UserError

DEFAULT_TCTI = "device:/dev/tpmrm0"
DEFAULT_HANDLE = 0x81010045
KEY_ATTRS = "sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth"
AK_ATTRS = "restricted|sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth"


class TpmError(UserError, RuntimeError):
    """The TPM is absent, unreachable or refused: one line saying which and what to do."""


def _pytss() -> Any:
    # The TSS logs its own errors to stderr; ours say the same in one line.
    os.environ.setdefault("TSS2_LOG", "all+NONE")
    try:
        import tpm2_pytss
    except ImportError as exc:  # the optional extra is not installed
        raise TpmError(N_("tpm2-pytss is not installed: pip install 'edgeproof[tpm]' (and libtss2 from apt)")) from exc
    return tpm2_pytss


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def open_tpm(tcti: str) -> Any:
    """An ESAPI context on the TPM named by ``tcti`` (``name:config``), or TpmError in one line."""
    t = _pytss()
    name, _, conf = tcti.partition(":")
    if not name:
        raise TpmError(N_("--tpm-tcti {tcti}: expected NAME[:CONFIG], e.g. device:/dev/tpmrm0 or "
                          "swtpm:host=127.0.0.1,port=2321"), tcti=f'{tcti!r}')
    try:
        ctx = t.ESAPI(t.TCTILdr(name, conf or None))
        ctx.get_random(8)  # a TCTI can open without a TPM answering behind it
    except Exception as exc:  # noqa: BLE001 -- TSS2_Exception, OSError, ...: all mean "no usable TPM here"
        raise TpmError(N_("no TPM answers at {tcti} ({value}): check the device or --tpm-tcti"),
                       tcti=tcti, value=_one_line(exc)) from exc
    return ctx


def _point(public: Any) -> bytes:
    """The SEC1 uncompressed point of a TPM2B_PUBLIC ECC key."""
    ecc = public.publicArea.unique.ecc
    return b"\x04" + bytes(ecc.x).rjust(32, b"\x00") + bytes(ecc.y).rjust(32, b"\x00")


def create_key(tcti: str, handle: int = DEFAULT_HANDLE) -> dict[str, Any]:
    """Make a new P-256 signing key inside the TPM and persist it at ``handle``.

    Returns what identity.json records (public information only). Refuses a handle already in
    use: that is another key, perhaps another identity's, and is never overwritten."""
    t = _pytss()
    ctx = open_tpm(tcti)
    try:
        if _handle_in_use(ctx, handle):
            raise TpmError(N_("TPM handle {handle} already holds a key: choose another with --tpm-handle, or remove "
                              "it (tpm2_evictcontrol -C o -c {handle}) if no gateway uses it"), handle=f'{handle:#x}')
        template = t.TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=KEY_ATTRS)
        # A random "unique" field makes this key the TPM's own fresh key, not one re-derivable
        # from the owner seed by anyone who runs the same template again.
        template.publicArea.unique.ecc.x = secrets.token_bytes(32)
        template.publicArea.unique.ecc.y = secrets.token_bytes(32)
        transient, public, _, _, _ = ctx.create_primary(None, template, t.ESYS_TR.OWNER)
        try:
            ctx.evict_control(t.ESYS_TR.OWNER, transient, handle)
        finally:
            ctx.flush_context(transient)
    except TpmError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise TpmError(N_("the TPM at {tcti} could not make a key ({value})"), tcti=tcti, value=_one_line(exc)) from exc
    finally:
        ctx.close()
    return {"key_store": "tpm", "tcti": tcti, "tpm_handle": f"{handle:#x}", "public_key": wire.b64(_point(public))}


def _handle_in_use(ctx: Any, handle: int) -> bool:
    t = _pytss()
    more, data = True, []
    prop = 0x81000000
    while more:
        more, cap = ctx.get_capability(t.TPM2_CAP.HANDLES, prop, 64)
        found = list(cap.data.handles)
        data += found
        if not found:
            break
        prop = found[-1] + 1
    return handle in data


class TpmSigner:
    """Signs with the persistent TPM key at ``handle``; the private key never leaves the TPM."""

    alg = wire.P256
    protection = "tpm"

    def __init__(self, tcti: str, handle: int, expect_kid: str | None = None) -> None:
        t = _pytss()
        self.tcti, self.handle = tcti, handle
        self._ctx = open_tpm(tcti)
        self._lock = threading.Lock()  # one ESAPI context, used by the batcher and the head-statement thread
        try:
            self._key = self._ctx.tr_from_tpmpublic(handle)
            public, _, _ = self._ctx.read_public(self._key)
        except Exception as exc:  # noqa: BLE001
            self._ctx.close()
            raise TpmError(N_("the TPM at {tcti} holds no key at handle {handle} ({value}): was it cleared, or is "
                              "this another TPM?"), tcti=tcti, handle=f'{handle:#x}', value=_one_line(exc)) from exc
        self.public_key = _point(public)
        self.public_area: bytes = public.marshal()
        if expect_kid is not None and wire.key_id(self.public_key) != expect_kid:
            self._ctx.close()
            raise TpmError(N_("the key at TPM handle {handle} is {value}, not this gateway's {expect_kid}: another "
                              "TPM, or the key was replaced"),
                           handle=f'{handle:#x}', value=wire.key_id(self.public_key), expect_kid=expect_kid)
        self._t = t

    def sign_message(self, message: bytes) -> bytes:
        t = self._t
        digest = t.TPM2B_DIGEST(hashlib.sha256(message).digest())
        scheme = t.TPMT_SIG_SCHEME(scheme=t.TPM2_ALG.NULL)
        ticket = t.TPMT_TK_HASHCHECK(tag=t.TPM2_ST.HASHCHECK, hierarchy=t.TPM2_RH.NULL)
        with self._lock:
            try:
                sig = self._ctx.sign(self._key, digest, scheme, ticket)
            except Exception as exc:  # noqa: BLE001
                raise TpmError(N_("the TPM at {tcti} did not sign ({value})"),
                               tcti=self.tcti, value=_one_line(exc)) from exc
        ecdsa = sig.signature.ecdsa
        return bytes(ecdsa.signatureR).rjust(32, b"\x00") + bytes(ecdsa.signatureS).rjust(32, b"\x00")

    def attest(self, nonce: bytes) -> dict[str, str]:
        """The key's public area and a TPM2_Certify of it by an attestation key over ``nonce``.

        The attestation key is a primary restricted signing key under the endorsement hierarchy:
        a restricted key signs only attestation structures the TPM itself made (TPMS_ATTEST
        starting with TPM_GENERATED_VALUE), never outside data that mimics one."""
        t = self._t
        with self._lock:
            try:
                ak_template = t.TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=AK_ATTRS)
                ak_template.publicArea.parameters.eccDetail.symmetric.algorithm = t.TPM2_ALG.NULL
                ak, ak_public, _, _, _ = self._ctx.create_primary(None, ak_template, t.ESYS_TR.ENDORSEMENT)
                try:
                    attest, sig = self._ctx.certify(self._key, ak, t.TPM2B_DATA(nonce),
                                                    t.TPMT_SIG_SCHEME(scheme=t.TPM2_ALG.NULL))
                finally:
                    self._ctx.flush_context(ak)
            except Exception as exc:  # noqa: BLE001
                raise TpmError(N_("the TPM at {tcti} could not certify its key ({value})"),
                               tcti=self.tcti, value=_one_line(exc)) from exc
        ecdsa = sig.signature.ecdsa
        raw = bytes(ecdsa.signatureR).rjust(32, b"\x00") + bytes(ecdsa.signatureS).rjust(32, b"\x00")
        return {"tpm_public": wire.b64(self.public_area), "ak_public": wire.b64(ak_public.marshal()),
                "certify_info": wire.b64(bytes(attest)), "certify_sig": wire.b64(raw)}

    def destroy(self) -> None:
        """Evict the persistent key from the TPM (``edgeproof decommission``): nothing can sign with it after."""
        t = self._t
        with self._lock:
            try:
                self._ctx.evict_control(t.ESYS_TR.OWNER, self._key, self.handle)
            except Exception as exc:  # noqa: BLE001
                raise TpmError(N_("the TPM at {tcti} did not evict handle {handle} ({value})"),
                               tcti=self.tcti, handle=f'{self.handle:#x}', value=_one_line(exc)) from exc
            finally:
                self._ctx.close()

    def close(self) -> None:
        with self._lock:
            self._ctx.close()

    def __repr__(self) -> str:
        return f"TpmSigner(kid={wire.key_id(self.public_key)!r}, handle={self.handle:#x})"
