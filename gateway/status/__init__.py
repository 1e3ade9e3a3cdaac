"""The local status page, its JSON API, /metrics, and the snapshot file `edgeproof status` reads.

Modules are imported where used (server, collect, snapshot), not here: a gateway with the
page disabled still writes snapshots without loading the HTTP server.
"""
