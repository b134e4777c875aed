"""The cluster spec: strict pydantic models for one YAML file describing one cluster.

Every field has a description (it becomes the JSON Schema and the reference in docs/spec.md).
Cross-field rules live in model validators; a message may start with ``@sub.path@`` to point
at a sub-field, which ``file.py`` folds into the reported field path. Provider models live
in ``providers.py`` and are re-exported here.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .base import (
    AGENT_OWNED_FLAGS,
    DNS_LABEL,
    FLAG_NAME,
    MASTER_OWNED_FLAGS,
    ODD_COUNTS,
    USER_NAME,
    StrictModel,
    at,
    control_character,
    local_file_problem,
    odd_count,
    shown,
)
from .monitoring import MonitoringSpec
from .providers import (
    ProviderSpec,
    PulumiAwsBackend,
    PulumiBackend,
    PulumiLibvirtBackend,
    PulumiProviderSpec,
    StaticHost,
    StaticProviderSpec,
    VagrantProviderSpec,
)
from .security import FirewallSpec, SecuritySpec

__all__ = [
    "AGENT_OWNED_FLAGS",
    "MASTER_OWNED_FLAGS",
    "ODD_COUNTS",
    "AgentGroup",
    "AgentResources",
    "ClusterSpec",
    "FirewallSpec",
    "InstallSpec",
    "MasterGroup",
    "MesosSpec",
    "MonitoringSpec",
    "ProviderSpec",
    "PulumiAwsBackend",
    "PulumiBackend",
    "PulumiLibvirtBackend",
    "PulumiProviderSpec",
    "SecuritySpec",
    "SshSpec",
    "StaticHost",
    "StaticProviderSpec",
    "StrictModel",
    "VagrantProviderSpec",
    "ZooKeeperSpec",
    "at",
]


class MasterGroup(StrictModel):
    """Mesos masters (and, with `zookeeper.placement: masters`, one ZooKeeper each)."""

    count: int = Field(1, description="Number of masters: 1, 3, 5 or 7 (odd keeps a quorum).")
    cpus: int = Field(1, ge=1, le=64, description="vCPUs per master machine.")
    memory_mb: int = Field(1024, ge=512, le=262144, description="Memory per master machine (MB).")

    @field_validator("count")
    @classmethod
    def _odd_count(cls, value: int) -> int:
        return odd_count(value)


class AgentResources(StrictModel):
    """What an agent advertises to Mesos (`--resources`)."""

    cpus: float = Field(gt=0, le=1024, description="CPUs offered.")
    mem: int = Field(ge=128, description="Memory offered (MB).")
    disk: int = Field(ge=64, description="Disk offered (MB).")
    ports: str = Field(
        "[31000-32000]",
        description="Port ranges offered, Mesos range syntax: `[a-b, c-d]`, each range "
        "ascending and within 1-65535, ranges not overlapping.",
    )

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, value: str) -> str:
        if not re.fullmatch(r"\[\d{1,6}-\d{1,6}(, *\d{1,6}-\d{1,6})*\]", value):
            raise ValueError(f"must look like [31000-32000] or [a-b, c-d]: got {shown(value)}")
        ranges = [tuple(map(int, part.split("-"))) for part in re.findall(r"\d+-\d+", value)]
        problems = []
        for begin, end in ranges:
            if begin > end:
                problems.append(f"range {begin}-{end} is reversed (write {end}-{begin})")
            if min(begin, end) < 1 or max(begin, end) > 65535:
                problems.append(f"range {begin}-{end} is outside 1-65535")
        ordered = sorted((min(r), max(r)) for r in ranges)
        for (a_begin, a_end), (b_begin, b_end) in pairwise(ordered):
            if b_begin <= a_end:
                problems.append(f"ranges {a_begin}-{a_end} and {b_begin}-{b_end} overlap")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def as_flag(self) -> str:
        cpus = int(self.cpus) if float(self.cpus).is_integer() else self.cpus
        return f"cpus:{cpus};mem:{self.mem};disk:{self.disk};ports:{self.ports}"


class AgentGroup(StrictModel):
    """Mesos agents."""

    count: int = Field(1, ge=0, le=500, description="Number of agents (0 or more).")
    cpus: int = Field(1, ge=1, le=256, description="vCPUs per agent machine.")
    memory_mb: int = Field(1024, ge=512, le=2097152, description="Memory per agent machine (MB).")
    resources: AgentResources | None = Field(
        None,
        description="Resources advertised to Mesos. Default: the machine's cpus and memory_mb "
        "and 10240 MB disk. Always rendered as `--resources` (without it an agent in a "
        "container would advertise the whole host).",
    )
    attributes: dict[str, str | int | float] = Field(
        default_factory=dict,
        description="Agent attributes (`--attributes`), e.g. `{rack: r1}`: names of "
        "[A-Za-z0-9_.-]; values without `,` `;` `:` or control characters.",
    )

    @field_validator("attributes")
    @classmethod
    def _valid_attributes(cls, value: dict[str, str | int | float]) -> dict[str, str | int | float]:
        problems = []
        for name, item in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name):
                problems.append(
                    f"attribute name {shown(name)} must be 1-128 chars of [A-Za-z0-9_.-]"
                )
                continue
            text = str(item)
            bad = control_character(text) or next((c for c in ",;:" if c in text), None)
            if bad is not None:
                problems.append(
                    at(
                        name,
                        f"attribute {name!r}: the value must not contain '{bad}' (Mesos "
                        f"--attributes syntax is name:value;name:value): got {shown(item)}",
                    )
                )
            elif not text.strip():
                problems.append(at(name, f"attribute {name!r}: the value is empty"))
        if problems:
            raise ValueError("\n".join(problems))
        return value

    @property
    def effective_resources(self) -> AgentResources:
        return self.resources or AgentResources(cpus=self.cpus, mem=self.memory_mb, disk=10240)

    def attributes_flag(self) -> str:
        return ";".join(f"{k}:{v}" for k, v in sorted(self.attributes.items()))


class ZooKeeperSpec(StrictModel):
    """Where the ZooKeeper ensemble runs."""

    placement: Literal["masters", "dedicated"] = Field(
        "masters",
        description="`masters`: one ZooKeeper on each master; `dedicated`: its own machines.",
    )
    count: int | None = Field(
        None, description="Ensemble size with `placement: dedicated` (1, 3, 5, 7)."
    )
    cpus: int = Field(1, ge=1, le=64, description="vCPUs per dedicated ZooKeeper machine.")
    memory_mb: int = Field(1024, ge=512, description="Memory per dedicated ZooKeeper machine (MB).")

    @field_validator("count")
    @classmethod
    def _odd_count(cls, value: int | None) -> int | None:
        return None if value is None else odd_count(value)

    @model_validator(mode="after")
    def _count_matches_placement(self) -> ZooKeeperSpec:
        if self.placement == "dedicated" and self.count is None:
            raise ValueError(at("count", "is required with placement: dedicated (1, 3, 5, 7)"))
        if self.placement == "masters" and self.count is not None:
            raise ValueError(
                at(
                    "count",
                    "is only allowed with placement: dedicated "
                    "(with placement: masters the size is masters.count)",
                )
            )
        return self


class InstallSpec(StrictModel):
    """How Mesos gets onto the machines."""

    method: Literal["repository", "package_url", "tarball"] = Field(
        "repository",
        description="`repository`: the maintained AVENTER `mesos` apt/yum packages; "
        "`package_url`: one .deb/.rpm from `url`; `tarball`: a prefix tree with "
        "`bin/mesos-master` and `bin/mesos-agent` from `url` or `path`.",
    )
    url: str | None = Field(None, description="Package or tarball URL (package_url, tarball).")
    path: str | None = Field(
        None,
        description="Tarball on the controller, relative to the spec file (tarball); must "
        "exist and be a regular file when the spec is loaded.",
    )
    runtime_packages: list[str] = Field(
        default_factory=list,
        description="OS packages installed before a tarball install (shared libraries a "
        "self-built Mesos links against, or python3-kazoo for the test stand-in).",
    )
    apt_repository: str = Field(
        "deb http://rpm.aventer.biz/Debian/ {codename} main",
        description="apt source line for `repository` on Debian/Ubuntu "
        "(`{codename}` is filled in).",
    )
    apt_key_url: str = Field(
        "https://www.aventer.biz/assets/support_aventer.asc",
        description="Signing key of the apt repository.",
    )
    yum_baseurl: str = Field(
        "http://rpm.aventer.biz/CentOS/$releasever/$basearch/",
        description="yum baseurl for `repository` on RHEL-family hosts.",
    )

    @field_validator("path")
    @classmethod
    def _path_is_a_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        problem = local_file_problem(value, info, "tarball")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("runtime_packages")
    @classmethod
    def _valid_packages(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9+._:=~-]*", p)]
        if bad:
            raise ValueError(f"not package names: {shown(bad, 120)}")
        return value

    @model_validator(mode="after")
    def _source_matches_method(self) -> InstallSpec:
        if self.method == "package_url" and not self.url:
            raise ValueError(at("url", "is required with method: package_url (a .deb or .rpm URL)"))
        if self.method == "tarball" and not (self.url or self.path):
            raise ValueError(at("url", "method: tarball needs `url` or `path`"))
        if self.url and self.path:
            raise ValueError(at("path", "give either `url` or `path`, not both"))
        if self.method == "repository" and (self.url or self.path):
            raise ValueError(at("method", "`url`/`path` are only used with package_url or tarball"))
        if self.url and not re.match(r"^(https?|file)://", self.url):
            raise ValueError(
                at("url", f"must be an http(s):// or file:// URL: got {shown(self.url)}")
            )
        return self


FlagValue = str | int | float | bool


def _check_flags(value: dict[str, FlagValue], owned: frozenset[str], what: str) -> None:
    problems = []
    for name in value:
        if not FLAG_NAME.fullmatch(name):
            problems.append(f"{shown(name)} is not a Mesos flag name (lower case, underscores)")
        elif name in owned:
            problems.append(
                f"{name!r} is set by dcos-provision from the spec and cannot be "
                f"overridden in {what}"
            )
    if problems:
        raise ValueError("; ".join(problems))


class MesosSpec(StrictModel):
    """Mesos version, installation and extra flags."""

    version: str = Field("1.11.0", description="Mesos version to install (packages pin it).")
    cluster_name: str | None = Field(None, description="`--cluster` name; default: the spec name.")
    install: InstallSpec = Field(default_factory=InstallSpec, description="Install method.")
    master_flags: dict[str, FlagValue] = Field(
        default_factory=dict,
        description="Extra master flags rendered as `MESOS_<NAME>`; the flags dcos-provision "
        "owns (zk, quorum, ip, hostname, port, cluster, work_dir, ...) are refused.",
    )
    agent_flags: dict[str, FlagValue] = Field(
        default_factory=dict,
        description="Extra agent flags rendered as `MESOS_<NAME>`, e.g. `launcher: posix`, "
        "`isolation: posix/cpu,posix/mem`; master, resources, attributes, ... are refused.",
    )

    @field_validator("version")
    @classmethod
    def _valid_version(cls, value: str) -> str:
        if not re.fullmatch(r"\d+\.\d+\.\d+([.-][A-Za-z0-9.]+)?", value):
            raise ValueError(f"must look like 1.11.0: got {shown(value)}")
        return value

    @field_validator("master_flags")
    @classmethod
    def _master_flags(cls, value: dict[str, FlagValue]) -> dict[str, FlagValue]:
        _check_flags(value, MASTER_OWNED_FLAGS, "master_flags")
        return value

    @field_validator("agent_flags")
    @classmethod
    def _agent_flags(cls, value: dict[str, FlagValue]) -> dict[str, FlagValue]:
        _check_flags(value, AGENT_OWNED_FLAGS, "agent_flags")
        return value


def valid_user(value: str) -> str:
    """A login name as ssh and useradd accept it (no spaces, options or shell syntax)."""
    if not USER_NAME.fullmatch(value):
        raise ValueError(f"must be a user name of [A-Za-z0-9_.-], 1-32 chars: got {shown(value)}")
    return value


class SshSpec(StrictModel):
    """How Ansible and the health probes log in."""

    user: str = Field("vagrant", description="SSH login user (needs passwordless sudo).")
    private_key: str | None = Field(
        None,
        description="Private key file (relative to the spec file); must exist and be a "
        "regular file. Vagrant sets its own.",
    )
    password: SecretStr | None = Field(
        None,
        description="SSH password, used by `doctor` only; never printed, logged or stored. "
        "Ansible logs in with keys, so with the static provider every host needs a private "
        "key as well (a spec where a host has only the password is refused).",
    )

    @field_validator("user")
    @classmethod
    def _valid_user(cls, value: str) -> str:
        return valid_user(value)

    @field_validator("private_key")
    @classmethod
    def _key_is_a_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        problem = local_file_problem(value, info, "private key")
        if problem:
            raise ValueError(problem)
        return value


class ClusterSpec(StrictModel):
    """One Mesos cluster: machines, ZooKeeper, masters, agents and how to install Mesos.

    Top-level keys starting with `x-` are ignored, as in Compose files: a place for YAML
    anchors shared through merge keys (`x-size: &size {cpus: 2}`, `agents: {<<: *size}`).
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"patternProperties": {"^x-": {}}}
    )

    name: str = Field(description="Cluster name: a DNS label, 1-40 chars of [a-z0-9-].")
    provider: ProviderSpec = Field(
        default_factory=lambda: VagrantProviderSpec(kind="vagrant"),
        description="Where the machines come from: vagrant, static or pulumi.",
    )
    masters: MasterGroup = Field(default_factory=MasterGroup, description="Mesos masters.")
    agents: AgentGroup = Field(
        default_factory=AgentGroup,
        description="Mesos agents: count, machine size, advertised resources, attributes.",
    )
    zookeeper: ZooKeeperSpec = Field(default_factory=ZooKeeperSpec, description="ZooKeeper.")
    mesos: MesosSpec = Field(default_factory=MesosSpec, description="Mesos install and flags.")
    ssh: SshSpec = Field(default_factory=SshSpec, description="SSH login for all machines.")
    security: SecuritySpec = Field(
        default_factory=SecuritySpec,
        description="Authentication, ACLs and firewall; all on by default.",
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec,
        description="Node exporter, Mesos metrics, Prometheus and alert rules; on by default.",
    )

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _drop_extension_keys(cls, data: object) -> object:
        if isinstance(data, dict):
            return {
                k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))
            }
        return data

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not DNS_LABEL.fullmatch(value):
            raise ValueError(
                f"must be a DNS label: 1-40 chars of a-z, 0-9 and '-', not starting or ending "
                f"with '-': got {shown(value)}"
            )
        return value

    @model_validator(mode="after")
    def _password_needs_keys(self) -> ClusterSpec:
        """Ansible would need sshpass (and the password in its variables) to log in with a
        password; rather than that, a static host with only a password is refused here."""
        if self.ssh.password is None or not isinstance(self.provider, StaticProviderSpec):
            return self
        keyless = [
            h.name for h in self.provider.hosts if not (h.ssh_private_key or self.ssh.private_key)
        ]
        if keyless:
            raise ValueError(
                at(
                    "ssh.password",
                    "is only used by `doctor`; Ansible logs in with a key, and host(s) "
                    f"{', '.join(keyless)} have none: set ssh.private_key or their "
                    "ssh_private_key (install it with ssh-copy-id)",
                )
            )
        return self

    @model_validator(mode="after")
    def _static_counts_agree(self) -> ClusterSpec:
        if not isinstance(self.provider, StaticProviderSpec):
            return self
        problems = []
        hosts = self.provider.hosts
        derived = {
            "masters": sum("master" in h.roles for h in hosts),
            "agents": sum("agent" in h.roles for h in hosts),
        }
        for group in ("masters", "agents"):
            model = getattr(self, group)
            if (
                group in self.model_fields_set
                and "count" in model.model_fields_set
                and (model.count != derived[group])
            ):
                problems.append(
                    at(
                        f"{group}.count",
                        f"is {model.count} but provider.hosts has {derived[group]} "
                        f"host(s) with role {group[:-1]}; drop it or make them agree",
                    )
                )
        if "zookeeper" in self.model_fields_set and self.zookeeper.placement == "dedicated":
            problems.append(
                at(
                    "zookeeper.placement",
                    "with the static provider the hosts' roles decide where ZooKeeper runs",
                )
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ---- derived values used by topology, inventory and the CLI
    @property
    def mesos_cluster_name(self) -> str:
        return self.mesos.cluster_name or self.name

    @property
    def source(self) -> Path | None:
        """The YAML file this spec was loaded from (None when built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    def resolve_path(self, value: str) -> Path:
        """A path from the spec: `~` expanded, relative ones taken from the spec file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()
