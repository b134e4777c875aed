"""The spec's `security:` section: authentication, authorisation, ZooKeeper ACLs, firewall, TLS.

Everything is on by default (as kubespray does): an open Mesos lets anyone who reaches port
5050 run tasks. Each part can be turned off explicitly; `SecuritySpec.warnings()` names what
is off so `up` and `status` can say so.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator, model_validator

from ..ports import CLUSTER_PORTS
from .base import StrictModel, at

#: Unix account names (useradd's rule, and what Mesos' run_tasks ACL compares).
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _ports_text() -> str:
    """ "2181, 2888, 3888, 5050 and 5051" for the descriptions."""
    *first, last = (str(port) for port in CLUSTER_PORTS)
    return f"{', '.join(first)} and {last}"


class FirewallSpec(StrictModel):
    """Host firewall (nftables) on every machine for the ZooKeeper and Mesos ports."""

    enabled: bool = Field(
        True,
        description=f"Render nftables rules for ports {_ports_text()}: ZooKeeper clients "
        "(2181) and the masters (5050) accept the cluster's machines and `operator_cidrs`, "
        "ZooKeeper's peer ports (2888, 3888) only the ensemble members, the agents (5051) "
        "only the masters and `operator_cidrs` (SSH stays open).",
    )
    operator_cidrs: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) allowed to reach the ZooKeeper and Mesos ports besides "
        "the cluster's machines, e.g. an admin subnet. Default: the address the controller "
        "(the machine running dcos-provision) connects from, as each host sees it over SSH; "
        "the health checks need it. With the vagrant-lxc lab that is the bridge address "
        "10.0.3.1.",
    )

    @field_validator("operator_cidrs")
    @classmethod
    def _valid_cidrs(cls, value: list[str]) -> list[str]:
        bad = []
        for text in value:
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                bad.append(text)
                continue
            if network.version != 4:
                bad.append(text)
        if bad:
            raise ValueError(f"not IPv4 networks in CIDR form (e.g. 192.0.2.0/24): {bad}")
        return value


class TlsSpec(StrictModel):
    """TLS between every Mesos component, with certificates from a cluster CA the tool makes.

    The CA key stays in the state directory (0600) and never reaches a node. Each node gets
    its own key and a certificate naming its address and host name; executors get a
    separate, lower-privilege certificate (see the security docs for what a task can do
    with it).
    """

    enabled: bool = Field(
        True,
        description="Mutual TLS for masters, agents and executors (`LIBPROCESS_SSL_*`: "
        "certificates required and verified against the cluster CA, TLS 1.2 and 1.3 only, "
        "modern ciphers). Needs a Mesos build with SSL support.",
    )
    support_downgrade: bool = Field(
        False,
        description="Also accept plain-text connections (`LIBPROCESS_SSL_SUPPORT_DOWNGRADE`), "
        "only for migrating frameworks that cannot speak TLS yet. Off by default; `up` and "
        "`status` warn while it is on: a plain client's credentials cross the network readable.",
    )
    certificate_days: int = Field(
        90,
        ge=1,
        le=825,
        description="Lifetime of node and executor certificates in days; `status` warns "
        "before they expire (see `expiry_warning_days`).",
    )
    expiry_warning_days: int = Field(
        14,
        ge=0,
        description="`status` warns (security layer) when a node certificate expires within "
        "this many days.",
    )

    @model_validator(mode="after")
    def _warning_within_lifetime(self) -> TlsSpec:
        if self.expiry_warning_days >= self.certificate_days:
            raise ValueError(
                at(
                    "expiry_warning_days",
                    f"must be less than certificate_days ({self.certificate_days}): got "
                    f"{self.expiry_warning_days}, so every certificate would warn at once",
                )
            )
        return self


class SecuritySpec(StrictModel):
    """Who may use the cluster: Mesos authentication and ACLs, ZooKeeper ACLs, firewall.

    Credentials are generated on the first `up` into `<state dir>/secrets.json` (mode 0600)
    unless `credentials_file` names your own.
    """

    authentication: bool = Field(
        True,
        description="Mesos authentication: frameworks (`--authenticate_frameworks`, HTTP "
        "frameworks with Basic auth), agents (`--authenticate_agents`, agent `--credential`) "
        "and the read-write HTTP endpoints (`--authenticate_http_readwrite`) on masters "
        "and agents.",
    )
    readonly_authentication: bool = Field(
        True,
        description="Also require credentials for the read-only HTTP endpoints "
        "(`--authenticate_http_readonly`: /master/state, /metrics/snapshot, ...). "
        "`false` keeps them open on purpose (e.g. for an unauthenticated dashboard). "
        "Needs `authentication`.",
    )
    authorization: bool = Field(
        True,
        description="Mesos ACLs (`--acls` on masters and agents), denying by default "
        "(`permissive: false`): the operator principal may do everything, the health "
        "principal may read and run its workload task, the agent principal may only register "
        "agents; tasks run only as `task_users`, and no principal may launch or enter "
        "containers through an agent's API. Needs `authentication`.",
    )
    task_users: list[str] = Field(
        default_factory=lambda: ["nobody"],
        min_length=1,
        description="Unix users tasks may run as (the `run_tasks` ACL); root is refused "
        "unless listed here.",
    )
    zookeeper_acl: bool = Field(
        True,
        description="Masters use ZooKeeper digest authentication (`zk://user:pass@...`, "
        "passed as a file), so the /mesos znodes are readable by anyone but writable "
        "only by the masters; the root znode is made read-only for everyone else and /mesos "
        "is created with that ACL before any master starts (an existing /mesos with another "
        "ACL is refused). Also turns on SASL DIGEST-MD5 between the ZooKeeper members, with a "
        "quorum secret derived from that credential: a peer without it cannot join.",
    )
    firewall: FirewallSpec = Field(
        default_factory=FirewallSpec, description="Host firewall (nftables)."
    )
    tls: TlsSpec = Field(
        default_factory=TlsSpec,
        description="TLS between masters, agents, executors and our own clients, with a "
        "cluster CA.",
    )
    credentials_file: str | None = Field(
        None,
        description="Bring your own credentials: a YAML/JSON file (mode 0600, relative to "
        "the spec file) with `operator`, `health`, `agent` and `zookeeper` entries, each "
        "`{principal: ..., secret: ...}`. Default: generated on the first `up`.",
    )

    @field_validator("task_users")
    @classmethod
    def _valid_users(cls, value: list[str]) -> list[str]:
        bad = [user for user in value if not _USER_NAME.match(user)]
        if bad:
            raise ValueError(f"not Unix user names: {bad}")
        return value

    @model_validator(mode="after")
    def _needs_authentication(self) -> SecuritySpec:
        explicit = [
            name
            for name in ("readonly_authentication", "authorization")
            if name in self.model_fields_set and getattr(self, name)
        ]
        if not self.authentication and explicit:
            raise ValueError(
                at(
                    explicit[0],
                    "needs authentication: true (set it to false too, or turn authentication on)",
                )
            )
        return self

    @property
    def readonly_auth(self) -> bool:
        return self.authentication and self.readonly_authentication

    @property
    def acls(self) -> bool:
        return self.authentication and self.authorization

    @property
    def needs_credentials(self) -> bool:
        return self.authentication or self.zookeeper_acl

    def protections(self) -> dict[str, bool]:
        """Each protection and whether the spec turns it on (what `status` reports)."""
        return {
            "mesos authentication": self.authentication,
            "read-only endpoints authenticated": self.readonly_auth,
            "mesos ACLs": self.acls,
            "zookeeper ACL": self.zookeeper_acl,
            "firewall": self.firewall.enabled,
            "tls": self.tls.enabled,
            "tls without plain-text downgrade": self.tls.enabled and not self.tls.support_downgrade,
        }

    def warnings(self) -> list[str]:
        """One line per protection the spec turns off."""
        return [
            f"security: {name} is OFF in the spec"
            for name, on in self.protections().items()
            if not on
        ]
