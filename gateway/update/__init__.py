"""Signed updates with automatic rollback (issue 17 item 3).

One job per module:
* ``errors``      -- UpdateError, the one exception a bad bundle or a failed step raises.
* ``release_key`` -- the release signing key (build side) and the pinned public key (gateway).
* ``bundle``      -- the bundle format: a tar of manifest.json, manifest.sig and wheels/*.whl.
* ``verify``      -- signature by the pinned key, wheel digests, version ordering, python tag.
* ``journal``     -- the update journal (atomic, fsynced) and the event log; ``update_summary``.
* ``install``     -- a side-by-side virtualenv per version, built from the bundle's wheels only.
* ``switch``      -- the ``current`` and ``stable`` symlinks, replaced atomically with rename().
* ``health``      -- selftest of the new version and an acknowledged batch within a deadline.
* ``fetch``       -- the latest bundle from the receiver (GET /v1/updates/latest, signed by the gateway key).
* ``updater``     -- the steps in order, each recorded in the journal, and ``resume`` after a power cut.

The health summary reads ``journal.update_summary(root=None)``: {current, previous, last_event}.
"""
