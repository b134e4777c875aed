"""Render role templates and variables the way Ansible does, from a generated inventory.

Shared by the role tests: role defaults < inventory (group and host vars, with the playbooks'
group_vars/all.yml above the inventory's `all` vars) < role vars, then ansible's own Templar
(2.19 data tagging: variable files are loaded as trusted templates).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

from provisioner.domain import Machine
from provisioner.inventory import build_inventory
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
ROLES = PLAYBOOKS / "roles"
LOADER = DataLoader()
init_plugin_loader()  # lookups in role variables (e.g. the secrets file) resolve as in a run


def cluster(**spec: Any) -> dict[str, Any]:
    """The inventory of a vagrant cluster, machines at 10.0.3.10, .11, ... in plan order."""
    data = {"name": "demo", "provider": {"kind": "vagrant"}, **spec}
    parsed = ClusterSpec.model_validate(data)
    machines = [
        Machine(
            name=p.name,
            roles=p.roles,
            address=f"10.0.3.{10 + i}",
            ssh_user="vagrant",
            strict_host_keys=False,
            zookeeper_id=p.zookeeper_id,
        )
        for i, p in enumerate(plan_machines(parsed))
    ]
    return build_inventory(parsed, machines)


def groups_of(inventory: dict[str, Any]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}

    def walk(name: str, group: dict[str, Any]) -> list[str]:
        hosts = list(group.get("hosts", {}))
        for child, sub in group.get("children", {}).items():
            hosts += [h for h in walk(child, sub) if h not in hosts]
        groups[name] = hosts
        return hosts

    walk("all", inventory["all"])
    return groups


def inventory_vars(inventory: dict[str, Any], host: str) -> dict[str, Any]:
    """What Ansible gives `host`: all.vars < playbooks/group_vars/all.yml < parent group vars
    < child group vars < host vars."""
    layers: list[tuple[float, dict[str, Any]]] = [(0.5, load(PLAYBOOKS / "group_vars" / "all.yml"))]

    def walk(group: dict[str, Any], depth: int) -> bool:
        member = host in group.get("hosts", {})
        for sub in group.get("children", {}).values():
            member = walk(sub, depth + 1) or member
        if member:
            layers.append((depth, group.get("vars", {})))
        return member

    walk(inventory["all"], 0)
    merged: dict[str, Any] = {}
    for _, layer in sorted(layers, key=lambda item: item[0]):
        merged.update(layer)
    merged.update(inventory["all"]["hosts"][host])
    return merged


def load(path: Path) -> dict[str, Any]:
    return LOADER.load_from_file(str(path), trusted_as_template=True) if path.exists() else {}


def role_vars(role: str, inventory: dict[str, Any], host: str, **extra: Any) -> dict[str, Any]:
    """Role defaults < inventory < role vars (vars/main.yml, vars/Debian.yml) < extra."""
    variables = dict(load(ROLES / role / "defaults" / "main.yml"))
    variables.update(inventory_vars(inventory, host))
    variables.update(load(ROLES / role / "vars" / "main.yml"))
    variables.update(load(ROLES / role / "vars" / "Debian.yml"))
    variables.update(
        {
            "inventory_hostname": host,
            "groups": groups_of(inventory),
            "hostvars": {h: inventory_vars(inventory, h) for h in inventory["all"]["hosts"]},
            "playbook_dir": str(PLAYBOOKS),
            "ansible_os_family": "Debian",
            "ansible_distribution_release": "bookworm",
            "ansible_managed": "Ansible managed",
            "mesos_install_bin_dir": "/opt/mesos-1.11.0/bin",
            "mesos_install_lib_dir": "/opt/mesos-1.11.0/lib",
            "mesos_install_agent_binary": "mesos-agent",
        }
    )
    variables.update(extra)
    return variables


def render(role: str, template: str, variables: dict[str, Any]) -> str:
    source = (ROLES / role / "templates" / template).read_text()
    templar = Templar(loader=LOADER, variables=variables)
    # As the template action does: the file is Jinja source, not YAML-escaped text.
    return templar.template(trust_as_template(source), escape_backslashes=False)


def value(expression: str, variables: dict[str, Any]) -> Any:
    templar = Templar(loader=LOADER, variables=variables)
    return templar.template(trust_as_template("{{ " + expression + " }}"))


def env_file(text: str) -> dict[str, str]:
    """Parse an environment file the way sh (and systemd, for these quotes) does."""
    parsed = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            (word,) = shlex.split(line)
            key, _, val = word.partition("=")
            parsed[key] = val
    return parsed
