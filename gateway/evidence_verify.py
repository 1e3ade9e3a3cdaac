"""Offline check of an evidence bundle (cloud_stub/evidence_bundle.py; layout in docs/evidence.md).

Lives on the gateway side so it runs without the receiver's extras: the standard library, PyNaCl (through
``gateway.wire``) and, for the RFC 3161 tokens, asn1crypto (parsing) and cryptography (the CMS signature and
the certificate chain). Nothing is fetched: what the bundle does not prove, it does not pass.

What is checked, in order; each failure names the file and what is wrong:

1. the archive holds regular files only, each once, with plain relative names;
2. ``manifest.sig`` is the receiver key's Ed25519 signature over ``EVIDENCE_PREFIX + manifest.json`` (the key
   the manifest names, or the one pinned with ``receiver_key``);
3. every file the manifest lists is there with its SHA-256 and size, and no other file is;
4. per gateway: each batch's signature holds under a key of the gateway's key history that was enrolled for
   it and not revoked before the batch was received, the body names the enterprise, gateway and seq, its
   hash is the one listed, and the batches form one chain (``prev``; a gap only where ``dropped`` declares it);
5. consent records are the records of the bundled batches they point to;
6. findings are hash-chained (cloud_stub/feed_chain.py), score reports verify under the receiver key, the
   access-log excerpt is hash-chained (cloud_stub/access_log.py);
7. each timestamp token: the imprint is the SHA-256 of its subject, the TSA's CMS signature holds, the
   signing certificate is a TSA certificate (critical extendedKeyUsage timeStamping), issued by the pinned
   CA (``tsa_ca``) or the bundle's ``tsa/ca.der``, valid at ``genTime``; a subject naming a batch or an
   access-log entry of the bundle must name its hash.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from gateway import wire
from gateway.i18n import N_, _, render
from gateway.user_error import Part, english

FORMAT = "edgeproof-evidence/1"
EVIDENCE_PREFIX = b"EdgeProof evidence v1\x00"
GENESIS = "0" * 64
MAX_MEMBER = 64 * 1024 * 1024
# The chained fields, as cloud_stub/feed_chain.py and cloud_stub/access_log.py hash them (copied: the gateway
# never imports the receiver; tests/cloud/test_evidence_bundle.py holds the copies to the originals).
FINDING_FIELDS = ("kind", "severity", "enterprise_id", "gateway_id", "created", "rule_version", "subscore",
                  "window_start", "window_end")
ACCESS_FIELDS = ("time", "actor_kind", "actor_id", "enterprise_id", "method", "path", "client", "status", "returned")
TIMESTAMPING_OID = "1.3.6.1.5.5.7.3.8"


@dataclass
class Result:
    failures: list[str] = field(default_factory=list)  # English (--json, logs)
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    # The same failures and notes as marked messages, for the summary in the reader's language (gateway.i18n.render).
    failure_parts: list[Part] = field(default_factory=list)
    note_parts: list[Part] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, msg: str, /, **params: Any) -> None:
        """``msg`` an N_ template, its values as keywords."""
        self.failures.append(english(msg, params))
        self.failure_parts.append(Part(msg, params))

    def note(self, msg: str, /, **params: Any) -> None:
        self.notes.append(english(msg, params))
        self.note_parts.append(Part(msg, params))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def finding_hash(item: dict[str, Any], prev: str) -> str:
    doc = {"chain": "finding", **{k: item.get(k) for k in FINDING_FIELDS},
           "detail_sha256": sha256(wire.canonical_json(item.get("detail"))), "prev": prev}
    return sha256(wire.canonical_json(doc))


def access_hash(entry: dict[str, Any], prev: str) -> str:
    return sha256(wire.canonical_json({"chain": "access", **{k: entry.get(k) for k in ACCESS_FIELDS}, "prev": prev}))


def read_archive(path: str | Path, res: Result) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed by the with below; opening is what may fail
    except (OSError, tarfile.TarError) as exc:
        res.fail(N_("{path}: not a readable tar archive ({error})"), path=path, error=exc)
        return files
    with tar:
        for m in tar.getmembers():
            if not m.isfile():
                res.fail(N_("{name}: not a regular file (type {type}); a bundle holds files only"),
                         name=m.name, type=f'{m.type!r}')
                continue
            if m.name.startswith("/") or ".." in m.name.split("/") or m.name != m.name.strip():
                res.fail(N_("{name}: not a plain relative name"), name=m.name)
                continue
            if m.name in files:
                res.fail(N_("{name}: present twice in the archive"), name=m.name)
                continue
            if m.size > MAX_MEMBER:
                res.fail(N_("{name}: {size} bytes, over {MAX_MEMBER}"), name=m.name, size=m.size, MAX_MEMBER=MAX_MEMBER)
                continue
            fh = tar.extractfile(m)
            files[m.name] = fh.read() if fh is not None else b""
    return files


def _load(files: dict[str, bytes], name: str, res: Result) -> Any:
    try:
        return json.loads(files[name])
    except KeyError:
        res.fail(N_("{name}: missing"), name=name)
    except ValueError as exc:
        res.fail(N_("{name}: not JSON ({error})"), name=name, error=exc)
    return None


def verify_bundle(path: str | Path, *, tsa_ca: bytes | None = None, receiver_key: str | None = None) -> Result:
    """Check a bundle; ``tsa_ca`` pins the TSA's CA (PEM or DER), ``receiver_key`` the receiver's public key
    (base64). The result lists every failure; a bundle passes only with none."""
    res = Result()
    files = read_archive(path, res)
    if res.failures:
        return res
    manifest_bytes, sig = files.get("manifest.json"), files.get("manifest.sig")
    if manifest_bytes is None or sig is None:
        res.fail(N_("manifest.json or manifest.sig: missing; nothing in the bundle can be trusted"))
        return res
    try:
        manifest = json.loads(manifest_bytes)
        pk = wire.unb64(receiver_key or manifest["receiver"]["public_key"], "receiver public key")
        if receiver_key and manifest["receiver"]["public_key"] != receiver_key:
            res.fail(N_("manifest.json: names another receiver key than the pinned one"))
        VerifyKey(pk).verify(EVIDENCE_PREFIX + manifest_bytes, sig)
    except BadSignatureError:
        res.fail(N_("manifest.sig: the receiver's signature over manifest.json does not verify (manifest or "
                    "signature changed)"))
        return res
    except (ValueError, KeyError, TypeError, wire.WireError) as exc:
        res.fail(N_("manifest.json: malformed ({error})"), error=exc)
        return res
    if manifest.get("format") != FORMAT:
        res.fail(N_("manifest.json: format {value}, expected {FORMAT}"),
                 value=f"{manifest.get('format')!r}", FORMAT=f'{FORMAT!r}')
        return res
    listed = {f["path"]: f for f in manifest.get("files", [])}
    for name in sorted(set(files) - set(listed) - {"manifest.json", "manifest.sig"}):
        res.fail(N_("{name}: in the archive but not in the manifest (added)"), name=name)
    for name, f in sorted(listed.items()):
        if name not in files:
            res.fail(N_("{name}: listed in the manifest but missing from the archive (removed)"), name=name)
        elif sha256(files[name]) != f.get("sha256") or len(files[name]) != f.get("size"):
            res.fail(N_("{name}: SHA-256 differs from the manifest (changed after export)"), name=name)
    ent = manifest.get("enterprise_id")
    res.summary.update({"enterprise_id": ent, "period": manifest.get("period"), "created": manifest.get("created"),
                        "receiver_kid": manifest.get("receiver", {}).get("kid"),
                        "receiver_pinned": receiver_key is not None})
    if res.failures:
        return res  # contents not as signed: checking them further would only repeat it
    bodies = _check_batches(files, ent, res)
    _check_consent(files, bodies, res)
    _check_findings(files, res)
    _check_scores(files, pk, ent, res)
    access = _check_access_log(files, ent, res)
    _check_timestamps(files, bodies, access, tsa_ca, res)
    return res


def _check_batches(files: dict[str, bytes], ent: str, res: Result) -> dict[str, dict[str, Any]]:
    """Per gateway: signatures, key history, chain. The decoded bodies by hash."""
    bodies: dict[str, dict[str, Any]] = {}
    gateways = sorted({n.split("/")[1] for n in files if n.startswith("gateways/") and n.endswith("/keys.json")})
    res.summary["gateways"] = {}
    for gw in gateways:
        keys_doc = _load(files, f"gateways/{gw}/keys.json", res)
        index = _load(files, f"gateways/{gw}/batches.json", res)
        if keys_doc is None or index is None:
            continue
        keys = {k["kid"]: k for k in keys_doc.get("keys", [])}
        prev_seq: int | None = None
        prev_hash: str | None = None
        seqs: list[int] = []
        for b in index.get("batches", []):
            seq = b.get("seq")
            base = f"gateways/{gw}/batches/{int(seq):012d}"
            body, sig = files.get(base + ".body"), files.get(base + ".sig")
            if body is None or sig is None:
                res.fail(N_("{base}.body/.sig: missing for seq {seq}"), base=base, seq=seq)
                continue
            where = f"{base}.body"
            key = keys.get(b.get("kid"))
            if key is None:
                res.fail(N_("{where}: signed with key {value}, which is not in gateways/{gw}/keys.json"),
                         where=where, value=b.get('kid'), gw=gw)
                continue
            if key.get("revoked_at") and str(key["revoked_at"]) <= str(b.get("received")):
                res.fail(N_("{where}: received {value}, after its key {key} was revoked ({key2})"),
                         where=where, value=b.get('received'), key=key['kid'], key2=key['revoked_at'])
            try:
                obj = wire.verify(wire.SignedBatch(body, sig, str(b.get("kid"))),
                                  wire.unb64(key["public_key"], "public key"))
            except wire.WireError as exc:
                res.fail(N_("{where}: the gateway's signature does not hold ({code}: {error})"),
                         where=where, code=exc.code, error=exc)
                continue
            h = wire.batch_hash(body)
            if h != b.get("hash"):
                res.fail(N_("{where}: hashes to {h}…, batches.json says {value}…"),
                         where=where, h=h[:16], value=str(b.get('hash'))[:16])
            if obj.get("enterprise") != ent or obj.get("gateway") != gw or obj.get("seq") != seq:
                res.fail(N_("{where}: the signed body names {enterprise}/{gateway}/seq {body_seq}, not "
                            "{ent}/{gw}/seq {seq}"), where=where, enterprise=obj.get("enterprise"),
                         gateway=obj.get("gateway"), body_seq=obj.get("seq"), ent=ent, gw=gw, seq=seq)
            if prev_seq is None:
                if seq != 1 and obj.get("prev") == GENESIS:
                    res.fail(N_("{where}: seq {seq} claims to start the chain"), where=where, seq=seq)
            elif seq == prev_seq + 1:
                if obj.get("prev") != prev_hash:
                    res.fail(N_("{where}: prev is not the hash of seq {prev_seq} (chain broken)"),
                             where=where, prev_seq=prev_seq)
            elif seq <= prev_seq:
                res.fail(N_("{where}: seq {seq} after seq {prev_seq} (twice or out of order)"),
                         where=where, seq=seq, prev_seq=prev_seq)
            elif wire.declared_gap(obj) != [prev_seq + 1, seq - 1]:
                res.fail(N_("{where}: seqs {value}..{value2} missing and not declared dropped"),
                         where=where, value=prev_seq + 1, value2=seq - 1)
            prev_seq, prev_hash = seq, h
            seqs.append(seq)
            bodies[h] = obj
        res.summary["gateways"][gw] = {"batches": len(seqs), "first_seq": min(seqs, default=None),
                                       "last_seq": max(seqs, default=None), "keys": len(keys)}
        if seqs and seqs[0] != 1:
            res.note(N_("gateway {gw}: the bundle's period starts at seq {seqs} (earlier batches are outside it; "
                        "their hash is only vouched for by seq {seqs}'s signed prev)"), gw=gw, seqs=seqs[0])
    res.summary["batches"] = len(bodies)
    res.summary["records"] = sum(len(b.get("records", [])) for b in bodies.values())
    return bodies


def _check_consent(files: dict[str, bytes], bodies: dict[str, dict[str, Any]], res: Result) -> None:
    doc = _load(files, "consent.json", res) or {}
    for r in doc.get("records", []):
        body = bodies.get(r.get("batch_hash"))
        idx = r.get("idx")
        if body is None:
            res.fail(N_("consent.json: record {value} points to batch {value2}…, not in the bundle"),
                     value=r.get('id'), value2=str(r.get('batch_hash'))[:16])
        elif not isinstance(idx, int) or not 0 <= idx < len(body["records"]) or \
                wire.canonical_json(body["records"][idx]) != wire.canonical_json(r.get("record")):
            res.fail(N_("consent.json: record {value} differs from record {idx} of its signed batch"),
                     value=r.get('id'), idx=idx)
    res.summary["consent_records"] = len(doc.get("records", []))
    res.summary["bank_grants"] = len(doc.get("bank_grants", []))


def _check_findings(files: dict[str, bytes], res: Result) -> None:
    items = (_load(files, "findings.json", res) or {}).get("findings", [])
    last: str | None = None
    for it in items:
        if it.get("hash") is None:
            if last is not None:
                res.fail(N_("findings.json: finding {value} is not chained, after chained ones"), value=it.get('id'))
            continue
        if finding_hash(it, str(it.get("prev"))) != it.get("hash"):
            res.fail(N_("findings.json: finding {value}: hash does not cover its fields (edited)"), value=it.get('id'))
        if last is not None and it.get("prev") != last:
            res.fail(N_("findings.json: finding {value}: prev is not the finding before it (one removed)"),
                     value=it.get('id'))
        last = it.get("hash")
    res.summary["findings"] = len(items)


def _check_scores(files: dict[str, bytes], pk: bytes, ent: str, res: Result) -> None:
    items = (_load(files, "scores.json", res) or {}).get("scores", [])
    for s in items:
        try:
            signed = wire.verify_report(s["signature"], pk)
        except (wire.WireError, KeyError, TypeError) as exc:
            res.fail(N_("scores.json: score {value}: the receiver's signature does not hold ({error})"),
                     value=s.get('id'), error=exc)
            continue
        if wire.canonical_json(signed) != wire.canonical_json(s.get("report")):
            res.fail(N_("scores.json: score {value}: the report differs from the one signed"), value=s.get('id'))
        elif signed.get("enterprise_id") != ent:
            res.fail(N_("scores.json: score {value} is about {value2}, not {ent}"),
                     value=s.get('id'), value2=signed.get('enterprise_id'), ent=ent)
    res.summary["scores"] = len(items)


def _check_access_log(files: dict[str, bytes], ent: str, res: Result) -> dict[int, str]:
    entries = (_load(files, "access_log.json", res) or {}).get("entries", [])
    last: str | None = None
    out: dict[int, str] = {}
    for e in entries:
        where = f"access_log.json: entry {e.get('id')}"
        if e.get("enterprise_id") != ent:
            res.fail(N_("{where} is about {value}, not {ent}"), where=where, value=e.get('enterprise_id'), ent=ent)
        if access_hash(e, str(e.get("prev"))) != e.get("hash"):
            res.fail(N_("{where}: hash does not cover its fields (edited)"), where=where)
        if last is not None and e.get("prev") != last:
            res.fail(N_("{where}: prev is not the entry before it (one removed or inserted)"), where=where)
        last = str(e.get("hash"))
        if isinstance(e.get("id"), int):
            out[e["id"]] = last
    res.summary["access_log_entries"] = len(entries)
    res.summary["access_log_actors"] = sorted({f"{e.get('actor_kind')}:{e.get('actor_id')}" for e in entries})
    return out


# -- RFC 3161 -------------------------------------------------------------------------------------------------


def _check_timestamps(files: dict[str, bytes], bodies: dict[str, dict[str, Any]], access: dict[int, str],
                      tsa_ca: bytes | None, res: Result) -> None:
    index = (_load(files, "timestamps/index.json", res) or {}).get("tokens", [])
    res.summary["timestamps"] = {"tokens": len(index), "verified": 0, "ca": "pinned" if tsa_ca else "bundle"}
    if not index:
        res.note(N_("no trusted timestamps in the bundle (the receiver had no TSA configured): integrity is proven, "
                    "the time is only the receiver's word"))
        return
    try:
        from asn1crypto import cms, pem
        from cryptography import x509
    except ImportError as exc:
        res.fail(N_("timestamps: cannot check tokens without asn1crypto and cryptography ({error})"), error=exc)
        return
    ca_der = tsa_ca if tsa_ca is not None else files.get("tsa/ca.der")
    if ca_der is None:
        res.fail(N_("timestamps: no TSA CA certificate (neither --tsa-ca nor tsa/ca.der in the bundle): the tokens "
                    "cannot be anchored"))
        return
    if ca_der.lstrip().startswith(b"-----BEGIN"):
        ca_der = bytes(pem.unarmor(ca_der)[2])
    try:
        ca = x509.load_der_x509_certificate(ca_der)
    except ValueError as exc:
        res.fail(N_("timestamps: the TSA CA certificate is not a certificate ({error})"), error=exc)
        return
    times: list[str] = []
    tsa_names: set[str] = set()
    token_certs: set[bytes] = set()
    for t in index:
        name = str(t.get("file"))
        der = files.get(name)
        if der is None:
            res.fail(N_("{name}: listed in timestamps/index.json but missing"), name=name)
            continue
        try:
            gen_time, cert = _verify_token(der, t, ca, cms, x509)
        except ValueError as exc:
            res.fail(N_("{name}: {error}"), name=name, error=exc)
            continue
        subject = json.loads(t["subject"])
        problem = _subject_in_bundle(subject, bodies, access)
        if problem:
            res.fail(N_("{name}: {problem}"), name=name, problem=problem)
            continue
        if t.get("gen_time") and str(t["gen_time"])[:19] != gen_time.strftime("%Y-%m-%dT%H:%M:%S"):
            res.fail(N_("timestamps/index.json: {name}'s gen_time {t} is not the token's {value}"),
                     name=name, t=t['gen_time'], value=gen_time.isoformat())
            continue
        token_certs.add(cert.public_bytes(_der_encoding()))
        res.summary["timestamps"]["verified"] += 1
        _note_anchor(res, subject, bodies, access, gen_time)
        times.append(gen_time.isoformat())
        tsa_names.add(cert.subject.rfc4514_string())
    for name in sorted(n for n in files if n.startswith("tsa/cert-")):
        if token_certs and files[name] not in token_certs:
            res.fail(N_("{name}: not the certificate of any token in the bundle"), name=name)
    res.summary["timestamps"].update({"earliest": min(times, default=None), "latest": max(times, default=None),
                                      "tsa": sorted(tsa_names)})


def _der_encoding() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _verify_token(der: bytes, entry: dict[str, Any], ca: Any, cms: Any, x509: Any) -> tuple[datetime, Any]:
    """The token's genTime and signing certificate, or ValueError saying what does not hold."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    subject = entry.get("subject")
    if not isinstance(subject, str):
        raise ValueError("timestamps/index.json gives no subject")
    digest = hashlib.sha256(subject.encode()).digest()
    try:
        ci = cms.ContentInfo.load(der)
        sd = ci["content"]
        encap = sd["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise ValueError("not a timestamp token (content type)")
        tst_der = encap["content"].contents
        tst = encap["content"].parsed
        imprint = tst["message_imprint"]
        gen_time = tst["gen_time"].native
        signer = sd["signer_infos"][0]
        certs = [c.chosen for c in sd["certificates"]] if sd["certificates"].native is not None else []
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ValueError(f"not a parsable RFC 3161 token ({exc})") from None
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint["hashed_message"].native != digest:
        raise ValueError("the token's imprint is not the SHA-256 of its subject (token or subject changed)")
    if entry.get("imprint") != digest.hex():
        raise ValueError("timestamps/index.json: imprint is not the SHA-256 of the subject")
    sid = signer["sid"].chosen
    cert_asn1 = next((c for c in certs if c.issuer == sid["issuer"] and c.serial_number == sid["serial_number"].native),
                     None) if signer["sid"].name == "issuer_and_serial_number" else (certs[0] if certs else None)
    if cert_asn1 is None:
        raise ValueError("the token does not carry its TSA certificate")
    cert = x509.load_der_x509_certificate(cert_asn1.dump())
    # The signed attributes: their message digest covers TSTInfo; the signature covers them (as a SET).
    attrs = signer["signed_attrs"]
    hash_name = signer["digest_algorithm"]["algorithm"].native
    hash_cls = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}.get(hash_name)
    if hash_cls is None:
        raise ValueError(f"unsupported digest {hash_name}")
    md = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
    if md != hashlib.new(hash_name, tst_der).digest():
        raise ValueError("the TSA's signed message digest does not cover the token's TSTInfo (token changed)")
    signed_bytes = b"\x31" + attrs.dump()[1:]
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signer["signature"].native, signed_bytes, padding.PKCS1v15(), hash_cls())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer["signature"].native, signed_bytes, ec.ECDSA(hash_cls()))
        else:
            raise ValueError("unsupported TSA key type")
    except InvalidSignature:
        raise ValueError("the TSA's signature does not hold (token changed)") from None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise ValueError("the signing certificate is not a TSA certificate (no extendedKeyUsage)") from None
    if not eku.critical or [u.dotted_string for u in eku.value] != [TIMESTAMPING_OID]:
        raise ValueError("the signing certificate is not a TSA certificate (extendedKeyUsage must be critical"
                         " timeStamping only)")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ValueError(f"the TSA certificate {cert.subject.rfc4514_string()} is not issued by the TSA CA"
                         f" {ca.subject.rfc4514_string()}") from None
    gen = gen_time if gen_time.tzinfo else gen_time.replace(tzinfo=UTC)
    for c, what in ((cert, "TSA certificate"), (ca, "TSA CA certificate")):
        if not c.not_valid_before_utc <= gen <= c.not_valid_after_utc:
            raise ValueError(f"the {what} was not valid at genTime {gen.isoformat()}")
    return gen, cert


def _note_anchor(res: Result, subject: dict[str, Any], bodies: dict[str, dict[str, Any]], access: dict[int, str],
                 gen_time: datetime) -> None:
    """Per gateway, the highest seq of the bundle a token proves existed, and by when (the earliest such token)."""
    if subject.get("kind") == "chain_tip" and subject.get("hash") in bodies:
        key, what = f"gateway {subject.get('gateway')}", f"seq {subject.get('seq')}"
    elif subject.get("kind") == "access_log_head" and access.get(subject.get("id")) == subject.get("hash"):  # type: ignore[arg-type]
        key, what = "access log", f"entry {subject.get('id')}"
    else:
        return
    anchors = res.summary.setdefault("anchored", {})
    seen = anchors.get(key)
    n = int(what.split()[1])
    if seen is None or n > seen["n"] or (n == seen["n"] and gen_time.isoformat() < seen["by"]):
        anchors[key] = {"n": n, "what": what, "by": gen_time.isoformat()}


def _subject_in_bundle(subject: dict[str, Any], bodies: dict[str, dict[str, Any]], access: dict[int, str]) -> str:
    """A subject that names something the bundle holds must name it exactly."""
    if subject.get("kind") == "chain_tip":
        for h, b in bodies.items():
            if b.get("gateway") == subject.get("gateway") and b.get("seq") == subject.get("seq") \
                    and h != subject.get("hash"):
                return f"timestamped chain tip seq {subject.get('seq')} names another batch than the bundle's"
    elif subject.get("kind") == "access_log_head":
        got = access.get(subject.get("id"))  # type: ignore[arg-type]
        if got is not None and got != subject.get("hash"):
            return f"timestamped access-log head {subject.get('id')} names another entry than the bundle's"
    return ""


# The summary's counts, by key; their display names are translated where printed.
COUNT_LABELS = {"records": N_("records"), "consent_records": N_("consent records"), "bank_grants": N_("bank grants"),
                "findings": N_("findings"), "scores": N_("scores"), "access_log_entries": N_("access log entries")}


def summary_lines(res: Result) -> list[tuple[str, bool]]:
    """The human-readable summary ``edgeproof evidence verify`` prints, in the user's language:
    (line, True for a failure line that goes to stderr)."""
    s = res.summary
    period = s.get("period") or {}
    span = _("{start} to {end}").format(start=period.get("from") or _("the beginning"),
                                        end=period.get("to") or _("the export"))
    out = [_("evidence bundle for enterprise {enterprise}, from {span}").format(enterprise=s.get("enterprise_id"),
                                                                                  span=span),
           (_("  receiver key {kid} (pinned)") if s.get("receiver_pinned")
            else _("  receiver key {kid} (as the bundle names it)")).format(kid=s.get("receiver_kid"))]
    for gw, g in (s.get("gateways") or {}).items():
        out.append(_("  gateway {gateway}: {batches} batches (seq {first}..{last}), {keys} key(s)").format(
            gateway=gw, batches=g["batches"], first=g["first_seq"], last=g["last_seq"], keys=g["keys"]))
    for k, label in COUNT_LABELS.items():
        if k in s:
            out.append(_("  {label}: {n}").format(label=_(label), n=s[k]))
    ts = s.get("timestamps")
    if ts:
        line = _("  trusted timestamps: {verified} of {tokens} verified").format(verified=ts.get("verified", 0),
                                                                                 tokens=ts.get("tokens", 0))
        if ts.get("verified"):
            line += _(", {earliest} .. {latest} by {tsa} (CA {ca})").format(
                earliest=ts.get("earliest"), latest=ts.get("latest"), tsa=", ".join(ts.get("tsa") or []),
                ca=ts.get("ca"))
        out.append(line)
    for key, a in (s.get("anchored") or {}).items():
        out.append(_("  {key}: existed up to {what} by {by} (trusted timestamp)").format(key=key, what=a["what"],
                                                                                         by=a["by"]))
    out += [_("  note: {note}").format(note=render(n)) for n in res.note_parts]
    lines = [(line, False) for line in out]
    lines += [(_("FAIL: {failure}").format(failure=render(f)), True) for f in res.failure_parts]
    lines.append((_("OK: every check passed"), False) if res.ok
                 else (_("FAILED: {n} check(s)").format(n=len(res.failures)), True))
    return lines
