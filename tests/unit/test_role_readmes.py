"""Every role has a README naming what it does, each of its variables and its handlers, and
the README keeps up with the role's files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"


@pytest.mark.parametrize("role", sorted(p.name for p in ROLES.iterdir() if p.is_dir()))
def test_the_role_readme_names_every_variable_and_handler(role: str) -> None:
    readme = ROLES / role / "README.md"
    assert readme.is_file(), f"{role} has no README.md"
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(f"# Role `{role}`\n")
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    missing = [name for name in defaults if f"`{name}`" not in text]
    handlers = yaml.safe_load((ROLES / role / "handlers" / "main.yml").read_text()) or []
    missing += [h["name"] for h in handlers if f"`{h['name']}`" not in text]
    assert not missing, f"{readme} does not name: {', '.join(missing)}"
