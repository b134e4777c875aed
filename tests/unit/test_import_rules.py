"""The layering of `provisioner/`, checked from the code's own imports (read with `ast`).

Every import counts: module level, inside functions, and under `if TYPE_CHECKING:`. A lazy
import kept for start-up speed is fine, but not one that only hides a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "provisioner"

SPEC_MODULES = {
    "provisioner.spec",
    "provisioner.spec.model",
    "provisioner.spec.base",
    "provisioner.spec.providers",
    "provisioner.spec.monitoring",
    "provisioner.spec.security",
    "provisioner.spec.yaml_loader",
}
REMOTE_MODULES = {
    "provisioner.remote",
    "provisioner.remote.connect",
    "provisioner.remote.probes",
    "provisioner.remote.ssh",
    "provisioner.remote.tlsstream",
    "provisioner.remote.zkwire",
}
#: Module -> the only modules of ours it may import (leaves import none).
ALLOWED: dict[str, set[str]] = {
    "provisioner.errors": set(),
    "provisioner.ports": set(),
    "provisioner.fileutil": set(),
    "provisioner.sshlib": set(),
    "provisioner.domain": {"provisioner.errors"},
    # The spec is validated data: it knows nothing of machines, state or backends. The
    # ports are facts of the services its firewall description names.
    **{name: SPEC_MODULES | {"provisioner.errors", "provisioner.ports"} for name in SPEC_MODULES},
    "provisioner.spec.file": SPEC_MODULES | {"provisioner.errors", "provisioner.fileutil"},
    # The backup's parts that touch files, keys, ZooKeeper or Mesos know nothing of clusters,
    # machines or backends; only backup.run puts them together.
    "provisioner.backup.archive": {"provisioner.errors"},
    "provisioner.backup.sealed": {"provisioner.errors"},
    "provisioner.backup.zktree": {"provisioner.errors"},
    "provisioner.backup.mesos_api": {"provisioner.errors", "provisioner.ports"},
    # The hosts over SSH and the service ports (one login, the probes, ZooKeeper's wire
    # protocol, TLS over any stream): machines, ports and the trusted host keys only, nothing
    # of clusters or health.
    **{
        name: REMOTE_MODULES
        | {"provisioner.domain", "provisioner.ports", "provisioner.hostkeys", "provisioner.sshlib"}
        for name in REMOTE_MODULES
    },
    # The doctor's verdicts are pure functions of what a host answered.
    "provisioner.doctor.checks": {"provisioner.domain", "provisioner.ports"},
}
#: The pure centre and the health checks get records from domain.py, never from a backend.
NO_PROVIDERS = {
    "provisioner.plan",
    "provisioner.inventory",
    "provisioner.state",
    "provisioner.resize",
    "provisioner.topology",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> Iterator[tuple[str, int]]:
    """(module of ours, line) for every import in the module, wherever it is written."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from . import drift` imports the module provisioner.drift itself.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules() else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "provisioner" or target.startswith("provisioner."):
                yield target, node.lineno


@cache
def graph() -> dict[str, set[str]]:
    return {name: {target for target, _ in imported(name)} - {name} for name in modules()}


def test_the_rules_name_modules_that_exist() -> None:
    named = set(ALLOWED) | NO_PROVIDERS | SPEC_MODULES | {"provisioner.providers"}
    assert named <= set(modules()), sorted(named - set(modules()))


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_module_imports_only_what_it_may(name: str) -> None:
    found = {f"{target} (line {line})" for target, line in imported(name)}
    forbidden = sorted(f for f in found if f.split(" ")[0] not in ALLOWED[name])
    assert not forbidden, f"{name} may import only {sorted(ALLOWED[name])}: {forbidden}"


def test_health_and_the_pure_centre_import_no_machine_backend() -> None:
    checked = NO_PROVIDERS | {n for n in modules() if n.startswith("provisioner.health")}
    offending = sorted(
        f"{name} imports {target} (line {line})"
        for name in checked
        for target, line in imported(name)
        if target == "provisioner.providers" or target.startswith("provisioner.providers.")
    )
    assert not offending, offending


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_check_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    found = cycles(graph())
    detail = [
        " ; ".join(f"{a} -> {b}" for a in component for b in sorted(graph()[a] & set(component)))
        for component in found
    ]
    assert not found, detail
