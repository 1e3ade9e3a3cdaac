"""The enterprise's own view of what its banks see, fetched by the gateway with a request signed by
its key (gateway/wire/request.py), verified under the receiver key pinned at enrollment, and kept
on site (0600) for the status page and `edgeproof view` / `edgeproof dispute list`."""
