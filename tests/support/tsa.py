"""A real RFC 3161 Time-Stamping Authority on loopback: ``openssl ts -reply`` behind a few lines of HTTP.

``LoopbackTSA(workdir)`` makes a throwaway CA and a TSA certificate (``extendedKeyUsage =
critical,timeStamping``) with the openssl command, and answers ``POST /`` with
``Content-Type: application/timestamp-query`` by running ``openssl ts -reply`` on the query. Tests use
``ca_pem`` / ``tsa_pem`` to pin or to tamper, and ``url`` as the receiver's ``--tsa-url``.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path

_CNF = """
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = {cn}
[ v3_ca ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ v3_tsa ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_and_tsa(d: Path, name: str = "EdgeProof test") -> None:
    """ca.key/ca.crt and tsa.key/tsa.crt (signed by the CA) and tsa.cnf in ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "tsa.cnf").write_text(_CNF.format(cn=f"{name} TSA", dir=d))
    (d / "ca.cnf").write_text(_CNF.format(cn=f"{name} CA", dir=d))
    (d / "tsaserial").write_text("01\n")
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
         "-config", "ca.cnf", "-extensions", "v3_ca", cwd=d)
    _run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
         "-config", "tsa.cnf", cwd=d)
    _run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
         "tsa.crt", "-days", "3650", "-extfile", "tsa.cnf", "-extensions", "v3_tsa", cwd=d)


class LoopbackTSA:
    """The TSA, serving on 127.0.0.1 until ``stop()``; ``requests`` counts the queries answered."""

    def __init__(self, workdir: Path) -> None:
        self.dir = Path(workdir)
        make_ca_and_tsa(self.dir)
        self.requests = 0
        self._lock = threading.Lock()
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length") or 0)
                query = self.rfile.read(n)
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415)
                    return
                reply = tsa.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, query: bytes) -> bytes:
        with self._lock:  # one openssl at a time: the serial file
            self.requests += 1
            q = self.dir / "q.tsq"
            q.write_bytes(query)
            _run("ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq", "-out", "r.tsr", cwd=self.dir)
            return (self.dir / "r.tsr").read_bytes()

    @property
    def ca_pem(self) -> bytes:
        return (self.dir / "ca.crt").read_bytes()

    @property
    def tsa_pem(self) -> bytes:
        return (self.dir / "tsa.crt").read_bytes()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
