"""The `edgeproof` command line.

Subcommands are modules: ``gateway/commands/<name>.py`` exposes ``command`` (a click
command or group) and becomes ``edgeproof <name>`` (underscores become hyphens). Other
deployables contribute groups through the ``edgeproof.commands`` entry-point group (the
receiver adds ``cloud`` and ``feed``) without the gateway importing them. Modules are
imported only when their command runs, so `edgeproof --help` stays fast on a Pi.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import click

import gateway.commands as commands_pkg
from gateway.i18n import _, install_click_catalog, render

# Click's own words (Usage:, Options:, Error: ...) in the reader's language, for every command of the process
# (the receiver's `cloud` and `feed` groups included): gateway/i18n.py.
install_click_catalog()


class LazyGroup(click.Group):
    def _local(self) -> dict[str, str]:
        return {m.name.replace("_", "-"): f"gateway.commands.{m.name}"
                for m in pkgutil.iter_modules(commands_pkg.__path__) if not m.name.startswith("_")}

    def _plugins(self) -> dict[str, Any]:
        from importlib.metadata import entry_points  # ~2 MB: only when a plugin is looked up

        return {ep.name: ep for ep in entry_points(group="edgeproof.commands")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._local()) | set(self._plugins()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        local = self._local()
        if cmd_name in local:
            return importlib.import_module(local[cmd_name]).command
        ep = self._plugins().get(cmd_name)
        if ep is not None:
            try:
                return ep.load()
            except ImportError as exc:
                raise click.ClickException(
                    _("'{command}' needs the receiver's packages: pip install 'edgeproof[cloud]' ({error})")
                    .format(command=cmd_name, error=render(exc))) from exc
        return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             help=_("EdgeProof: signed production indicators from factory gateways."))
@click.version_option(package_name="edgeproof")
def cli() -> None:
    """EdgeProof: signed production indicators from factory gateways."""


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
