"""EdgeProof gateway runtime.

``__version__`` is the one place the version is written (setup.cfg reads it with
``attr:``): the status snapshot reports it every few seconds, and asking
``importlib.metadata`` instead imports email, csv and zipfile, ~2 MB of a Pi's
resident memory for one string.
"""

__version__ = "0.1.0"
