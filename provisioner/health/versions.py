"""Every master and agent runs the Mesos version the spec asks for (their `/version`).

After an `upgrade` that stopped half way, or a host converged from an old install, the
cluster can look healthy while nodes run different builds; this check names each one.
`/version` answers `{"version": "1.12.0", ...}` (the upstream version) without credentials
(MESOS-FACTS §2, §11). The spec's `mesos.version` may carry a package revision or a local
label after a `-` (`1.11.0-2.0.1`, `1.12.0-relabel`): only the part before it is compared.
"""

from __future__ import annotations

from ..domain import Machine
from ..remote.probes import ProbeError, Probes, get_json
from .view import Results

CHECK = "version"


def upstream(version: str) -> str:
    """ "1.11.0-2.0.1" -> "1.11.0": what a node's /version reports for that install."""
    return version.split("-", 1)[0].strip()


def running_version(probes: Probes, node: Machine, port: int) -> tuple[str | None, str]:
    """(version, "") from the node's /version, or (None, why it is unknown)."""
    try:
        status, data = get_json(probes, node.address, port, "/version")
    except ProbeError as exc:
        return None, f"/version: {exc}"
    if status != 200 or not isinstance(data, dict) or not isinstance(data.get("version"), str):
        return None, f"/version answered {status} without a version"
    return data["version"], ""


def check_version(
    results: Results, probes: Probes, node: Machine, port: int, spec_version: str, what: str
) -> None:
    """One `version` check for this node: ok when it runs `upstream(spec_version)`."""
    version, why = running_version(probes, node, port)
    wanted = upstream(spec_version)
    if version is None:
        results.add(CHECK, node.name, False, f"{what} version unknown: {why}")
    elif version == wanted:
        results.add(CHECK, node.name, True, f"{what} runs Mesos {version} as the spec asks")
    else:
        results.add(
            CHECK,
            node.name,
            False,
            f"{what} runs Mesos {version}, the spec asks for {wanted} "
            f"(mesos.version {spec_version}): an interrupted upgrade? run `upgrade` again",
        )
