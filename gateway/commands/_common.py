"""Options shared by the gateway's commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from drivers.support.state import default_state_dir
from gateway.i18n import _, render, use_profile_locale
from gateway.profile import ProfileError, load_profile
from gateway.profile.schema import Profile


def state_option(f: Any) -> Any:
    return click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help=_("State directory (key, store). Default: $EDGEPROOF_STATE, "
                                "/var/lib/edgeproof, or ~/.local/state/edgeproof."))(f)


def profile_option(f: Any) -> Any:
    return click.option("--profile", "-p", "profile", default=None,
                        help=_("Profile file or shipped profile name (default: sim-factory, or "
                               "$EDGEPROOF_PROFILE)."))(f)


def get_profile(profile: str | None) -> Profile:
    try:
        prof = load_profile(profile or os.environ.get("EDGEPROOF_PROFILE"))
    except ProfileError as exc:
        raise click.ClickException(_("profile error: {error}").format(error=render(exc))) from exc
    use_profile_locale(prof.site.locale)  # the site's language, unless the environment names one
    return prof


def get_state(state_dir: Path | None) -> Path:
    return state_dir or default_state_dir()
