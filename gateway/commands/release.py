"""`edgeproof release`: the build side of signed updates.

    edgeproof release keygen --out release.key          # private key 0600, release.key.pub beside it
    edgeproof release sign --key release.key --wheels dist/ --version 0.2.0 --out edgeproof-0.2.0.bundle

The private release key belongs on the build machine (or offline), never on a gateway; gateways
pin the .pub file (`edgeproof update pin-key`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.i18n import _, render


@click.group("release", help=_(
    "Make the release key and signed release bundles (build side)."))
def command() -> None:
    """Make the release key and signed release bundles (build side)."""


@command.command("keygen", help=_(
    "Create a release signing key. Prints only the public key's id and file."))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("release.key"),
              show_default=True, help=_("Private key file (0600); the public key goes to <out>.pub."))
def keygen(out: Path) -> None:
    """Create a release signing key. Prints only the public key's id and file."""
    from gateway.update.errors import UpdateError
    from gateway.update.release_key import generate, key_id

    try:
        public = generate(out)
    except UpdateError as exc:
        raise click.ClickException(render(exc)) from exc
    click.echo(_("release key {kid}: private key {out} (mode 0600, keep it off gateways), public key {out}.pub "
                 "(pin it on gateways: edgeproof update pin-key {out}.pub)").format(kid=key_id(bytes(public)), out=out))


@command.command("sign", help=_("Sign the wheels of a version into a release bundle."))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("The private release key (from `release keygen`)."))
@click.option("--wheels", "wheels", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=_("Directory holding the project wheel and every dependency wheel."))
@click.option("--version", "version", required=True, help=_("The release's version (PEP 440)."))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("The bundle file to write."))
@click.option("--min-from", default=None, help=_("Oldest running version this release may update from."))
@click.option("--python-tag", default=None,
              help=_("Interpreter tag of the gateways (default: this one's, e.g. cp311)."))
@click.option("--project", default="edgeproof", show_default=True, help=_("Distribution name of the project wheel."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the manifest as JSON."))
def sign(key_path: Path, wheels: Path, version: str, out: Path, min_from: str | None, python_tag: str | None,
         project: str, as_json: bool) -> None:
    """Sign the wheels of a version into a release bundle."""
    from gateway.update.bundle import build
    from gateway.update.errors import UpdateError
    from gateway.update.release_key import load_private
    from gateway.update.verify import parse_version

    try:
        parse_version(version, "--version")
        if min_from is not None:
            parse_version(min_from, "--min-from")
        manifest = build(load_private(key_path), wheels, version, out, project=project, min_from=min_from,
                         python=python_tag)
    except UpdateError as exc:
        raise click.ClickException(render(exc)) from exc
    if as_json:
        click.echo(json.dumps(manifest.as_dict(), sort_keys=True))
    else:
        click.echo(_("{out}: {project} {version} for {python}, {n} wheels, signed").format(
            out=out, project=project, version=version, python=manifest.python, n=len(manifest.wheels)))
