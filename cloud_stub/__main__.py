"""``python -m cloud_stub serve ...`` (same as ``edgeproof cloud serve ...``); ``... feed verify`` too."""

from cloud_stub.cli import main

main()
