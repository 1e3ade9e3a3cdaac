"""`edgeproof replay`: recorded history through the gateway's real path under a simulated clock.

``data`` reads and validates the data folder (one CSV per device, the MES/ERP exports),
``driver`` runs the store, indicator engine, consent gate, batcher and uplink over it, and
``scenarios`` writes synthetic factory histories in exactly that folder layout. The folder
layout and the identity rules are in docs/replay.md.
"""
