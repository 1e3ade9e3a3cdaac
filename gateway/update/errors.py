"""The one error of the update path: what went wrong, naming the file and what was expected."""

from __future__ import annotations

from gateway.user_error import UserError


class UpdateError(UserError):
    """A bundle or an update step that must not go further; the running version is untouched."""
