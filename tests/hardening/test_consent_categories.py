"""Issue 18: a misspelt consent category is refused, on the command line and in profile grants,
instead of "holding" a category the gateway never makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.commands.consent import command as consent_cmd
from gateway.consent.policy import KNOWN_CATEGORIES, load_consent, local_changes
from gateway.profile import ProfileError
from gateway.store import Store


@pytest.mark.parametrize("action", ["revoke", "grant", "release"])
def test_cli_refuses_an_unknown_category_and_records_nothing(tmp_path: Path, action: str) -> None:
    db = tmp_path / "edgeproof.db"
    Store(db, "NORMAL").close()
    res = CliRunner().invoke(consent_cmd, [action, "--db", str(db), "enrgy"])
    assert res.exit_code == 2, res.output
    assert "'enrgy'" in res.output and "energy" in res.output and "Traceback" not in res.output
    st = Store(db, "NORMAL")
    try:
        assert local_changes(st) == []
    finally:
        st.close()


def test_cli_accepts_known_categories_and_star(tmp_path: Path) -> None:
    db = tmp_path / "edgeproof.db"
    Store(db, "NORMAL").close()
    res = CliRunner().invoke(consent_cmd, ["revoke", "--db", str(db), "energy", "*"])
    assert res.exit_code == 0, res.output


def test_profile_grant_with_an_unknown_category_names_file_key_and_expected_values() -> None:
    with pytest.raises(ProfileError) as exc:
        load_consent({"grants": [{"categories": ["energy"]}, {"categories": ["machine", "vison"]}]},
                     file="site.toml")
    msg = str(exc.value)
    assert msg.startswith("site.toml: consent.grants[1].categories:")
    assert "'vison'" in msg and all(c in msg for c in KNOWN_CATEGORIES)


def test_consent_file_grant_with_an_unknown_category(tmp_path: Path) -> None:
    f = tmp_path / "consent.toml"
    f.write_text('[[grants]]\ncategories = ["erp", "mess"]\n', encoding="utf-8")
    with pytest.raises(ProfileError, match=r"consent.toml: grants\[0\].categories: .*'mess'"):
        load_consent({"file": str(f)})
