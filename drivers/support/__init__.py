"""What drivers share and that is not itself a driver: the one driver interface (``base``), the profile types
drivers read (``types``), shared buses (``bus``), persisted counters (``state``) and geofence geometry
(``geofence``).

Kept apart from ``drivers/<kind>.py`` so that driver discovery (gateway/profile/load.py, which requires a
``DRIVER``) sees only drivers: a profile's ``driver = "state"`` names no module at all.
"""
