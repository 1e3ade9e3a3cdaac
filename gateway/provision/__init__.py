"""Zero-touch first boot: a provisioning file on the boot partition, applied once.

``config`` reads and checks the file, ``steps`` runs init, enroll, probe and selftest with
the functions those commands use, ``state`` records each step for `edgeproof status`, the
status page and the health summary, and ``tokenfile`` rewrites the file without its token.
"""
