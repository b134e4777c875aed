"""The README and docs/ hold together: every relative link resolves (its anchor too, by GitHub's
heading slugs), every docs page says what it covers, and the README stays a short guide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(page.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return [
        target
        for line in prose_lines(page.read_text())
        for target in LINK.findall(line)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...
    ]


def test_slugs_follow_github() -> None:
    assert slug("Quick start") == "quick-start"
    assert slug("`ClusterSpec`") == "clusterspec"
    assert slug("Security (on by default)") == "security-on-by-default"
    assert slug("Static hosts and Pulumi") == "static-hosts-and-pulumi"
    assert slug("Root, sudo and what set-up installs") == "root-sudo-and-what-set-up-installs"


def test_there_are_docs_pages_and_links_to_check() -> None:
    assert len(PAGES) > 5
    assert sum(len(links(page)) for page in PAGES) > 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no file {path_part}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(REPO)}")
    assert broken == []


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_docs_page_starts_with_what_it_covers(page: Path) -> None:
    title, blank, summary, *_ = page.read_text().splitlines()
    assert title.startswith("# ") and blank == ""
    assert summary and not summary.startswith(("#", "-", "|", "`", "<")), summary


def test_readme_is_a_short_guide() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, f"README does not point to docs/{page.name}"


def readme_commands(heading: str) -> list[str]:
    """The command lines of the `sh` blocks in the README section under `## heading`."""
    section = (REPO / "README.md").read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ")[0]
    blocks = [block.split("```", 1)[0] for block in section.split("```sh\n")[1:]]
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readmes_test_command() -> None:
    # the quick start's first command is run verbatim by the e2e suite (test_ha_faults.py)
    first, second = readme_commands("Quick start")
    assert first == "scripts/lab-setup.sh && .venv/bin/dcos-provision up examples/local.yaml"
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == f"exec sh {second}" and second == "scripts/test.sh"


def test_the_everyday_commands_parse_as_written(tmp_path: Path, monkeypatch) -> None:
    """Each everyday command names a real subcommand with real options (parsed, not run)."""
    import shlex

    import typer

    from provisioner.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cluster.yaml").write_text("name: demo\nprovider: {kind: vagrant}\n")
    lines = readme_commands("The everyday commands")
    assert len(lines) >= 5
    for line in lines:
        program, name, *args = shlex.split(line, comments=True)
        assert program == "dcos-provision", line
        command = commands.get(name)
        assert command is not None, f"no command {name!r}: {line}"
        with command.make_context(name, list(args)) as context:
            assert context.params["spec"] == Path("cluster.yaml"), line
