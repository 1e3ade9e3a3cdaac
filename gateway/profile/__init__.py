"""Hardware profiles: declarative TOML validated against a schema (see schema.py)."""

from gateway.profile.load import ProfileError, load_profile, resolve_profile_path
from gateway.profile.schema import Device, Model, PointDef, Profile

__all__ = ["Device", "Model", "PointDef", "Profile", "ProfileError", "load_profile", "resolve_profile_path"]
