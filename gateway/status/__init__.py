"""The local status page, its JSON API, /metrics, and the snapshot file `edgeproof status` reads."""

from gateway.status.server import BindError, StatusServer
from gateway.status.snapshot import read_snapshot, write_snapshot

__all__ = ["BindError", "StatusServer", "read_snapshot", "write_snapshot"]
