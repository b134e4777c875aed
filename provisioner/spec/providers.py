"""Spec models of the machine providers: vagrant, static (existing hosts) and pulumi."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import (
    HOST_NAME,
    ODD_COUNTS,
    USER_NAME,
    StrictModel,
    at,
    local_file_problem,
    shown,
)


def unicast_ipv4(value: str) -> str:
    """An IPv4 address a host can have: not 0.0.0.0, broadcast, multicast or reserved."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(
            f"must be an IPv4 address (Mesos is IPv4 only): got {shown(value)}"
        ) from None
    reason = (
        "the unspecified address"
        if address.is_unspecified
        else "a multicast address"
        if address.is_multicast
        else "the broadcast address"
        if address == ipaddress.IPv4Address("255.255.255.255")
        else "a reserved address"
        if address.is_reserved
        else None
    )
    if reason:
        raise ValueError(f"must be a unicast address of a host: {value} is {reason}")
    return value


class VagrantProviderSpec(StrictModel):
    """Local VMs through Vagrant: LXC system containers by default, libvirt or VirtualBox VMs."""

    kind: Literal["vagrant"] = Field(description="Machine backend: Vagrant.")
    vagrant_provider: Literal["lxc", "libvirt", "virtualbox"] = Field(
        "lxc",
        description="Vagrant provider: `lxc` (system containers, the local/CI default), "
        "`libvirt` or `virtualbox` (full VMs on a laptop).",
    )
    box: str | None = Field(
        None,
        description="Vagrant box name. Default: `dcos-provision/debian12-lxc` for lxc (built "
        "locally by `vagrant/box/build-box.sh`), `debian/bookworm64` otherwise.",
    )
    private_network: str | None = Field(
        None,
        description="For libvirt/virtualbox: first address of a private network (e.g. "
        "`192.168.56.10`) given to machines in order; lxc uses the lxcbr0 DHCP addresses.",
    )

    @field_validator("private_network")
    @classmethod
    def _valid_network(cls, value: str | None) -> str | None:
        return None if value is None else unicast_ipv4(value)

    @property
    def effective_box(self) -> str:
        if self.box:
            return self.box
        return (
            "dcos-provision/debian12-lxc"
            if self.vagrant_provider == "lxc"
            else ("debian/bookworm64")
        )


class StaticHost(StrictModel):
    """An existing machine (bare metal or a VM made elsewhere) adopted by the cluster."""

    name: str = Field(description="Host name used in the inventory and for Mesos `--hostname`.")
    address: str = Field(
        description="Unicast IPv4 address the cluster services bind to and advertise."
    )
    roles: list[Literal["master", "agent", "zookeeper"]] = Field(
        min_length=1, description="What runs on this host: any of master, agent, zookeeper."
    )
    ssh_user: str | None = Field(None, description="SSH login; default: `ssh.user`.")
    ssh_port: int = Field(22, ge=1, le=65535, description="SSH port.")
    ssh_private_key: str | None = Field(
        None,
        description="Private key file (relative to the spec file; must exist and be a regular "
        "file); default: `ssh.private_key`.",
    )
    zookeeper_id: int | None = Field(
        None,
        ge=1,
        le=255,
        description="ZooKeeper `myid` for this host; default: its position among the "
        "zookeeper hosts (1-based). Set it explicitly before reordering hosts.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not HOST_NAME.fullmatch(value):
            raise ValueError(f"must be a DNS label ([a-z0-9-], 1-63 chars): got {shown(value)}")
        return value

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        return unicast_ipv4(value)

    @field_validator("ssh_user")
    @classmethod
    def _valid_user(cls, value: str | None) -> str | None:
        if value is not None and not USER_NAME.fullmatch(value):
            raise ValueError(
                f"must be a user name of [A-Za-z0-9_.-], 1-32 chars: got {shown(value)}"
            )
        return value

    @field_validator("ssh_private_key")
    @classmethod
    def _key_is_a_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        problem = local_file_problem(value, info, "private key")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"roles must not repeat: got {value}")
        return value


class StaticProviderSpec(StrictModel):
    """Existing hosts over SSH: `up` adopts them, `down` resets them, nothing is deleted."""

    kind: Literal["static"] = Field(description="Machine backend: existing hosts.")
    hosts: list[StaticHost] = Field(min_length=1, description="The hosts of the cluster.")

    @model_validator(mode="after")
    def _consistent_hosts(self) -> StaticProviderSpec:
        problems: list[str] = []
        for attr in ("name", "address"):
            seen: dict[str, int] = {}
            for index, host in enumerate(self.hosts):
                value = getattr(host, attr)
                if value in seen:
                    problems.append(
                        at(
                            f"hosts[{index}].{attr}",
                            f"duplicate {attr} {value!r} (also hosts[{seen[value]}])",
                        )
                    )
                seen.setdefault(value, index)
        masters = [h for h in self.hosts if "master" in h.roles]
        zookeepers = [h for h in self.hosts if "zookeeper" in h.roles]
        if len(masters) not in ODD_COUNTS:
            problems.append(
                at("hosts", f"hosts with role master must be 1, 3, 5 or 7: got {len(masters)}")
            )
        if len(zookeepers) not in ODD_COUNTS:
            problems.append(
                at(
                    "hosts",
                    f"hosts with role zookeeper must be 1, 3, 5 or 7: got {len(zookeepers)}",
                )
            )
        ids = [h.zookeeper_id for h in zookeepers if h.zookeeper_id is not None]
        if len(set(ids)) != len(ids):
            problems.append(at("hosts", f"zookeeper_id values must be unique: got {sorted(ids)}"))
        if problems:
            raise ValueError("\n".join(problems))
        return self


class PulumiLibvirtBackend(StrictModel):
    """On-premises VMs on a libvirt host, created with pulumi-libvirt."""

    type: Literal["libvirt"] = Field(description="Pulumi backend: libvirt.")
    uri: str = Field("qemu:///system", description="libvirt connection URI.")
    image_url: str = Field(
        "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
        description="Cloud image (qcow2) used as every machine's base volume.",
    )
    pool: str = Field("default", description="Storage pool for the volumes.")
    network_cidr: str = Field("10.17.3.0/24", description="NAT network created for the cluster.")
    disk_gb: int = Field(20, ge=5, description="Root disk size per machine (GiB).")
    ssh_public_key: str = Field(
        "~/.ssh/id_ed25519.pub",
        description="Public key installed by cloud-init for `ssh.user`.",
    )

    @field_validator("network_cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        net = ipaddress.IPv4Network(value, strict=True)
        if net.num_addresses < 16:
            raise ValueError(f"network must hold at least 16 addresses: got {value}")
        return value


class PulumiAwsBackend(StrictModel):
    """Cloud VMs on AWS EC2, created with pulumi-aws."""

    type: Literal["aws"] = Field(description="Pulumi backend: AWS.")
    region: str = Field(description="AWS region, e.g. `eu-west-1`.")
    ami: str = Field(description="AMI id of a Debian 12 / Ubuntu 22.04+ image.")
    master_instance_type: str = Field("t3.medium", description="Instance type of masters.")
    agent_instance_type: str = Field("t3.large", description="Instance type of agents.")
    zookeeper_instance_type: str = Field("t3.small", description="Instance type of dedicated ZK.")
    vpc_cidr: str = Field(
        "10.20.0.0/16", description="CIDR of the VPC created when no subnet is given."
    )
    subnet_id: str | None = Field(None, description="Existing subnet to use instead of a new VPC.")
    vpc_id: str | None = Field(None, description="VPC of `subnet_id` (required with it).")
    ssh_cidr: str = Field(description="CIDR allowed to reach SSH (22), e.g. your office /32.")
    ssh_public_key: str = Field(
        "~/.ssh/id_ed25519.pub", description="Public key registered as the instances' key pair."
    )
    root_volume_gb: int = Field(30, ge=8, description="Root volume size per instance (GiB).")

    @field_validator("vpc_cidr", "ssh_cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        ipaddress.IPv4Network(value, strict=False)
        return value

    @model_validator(mode="after")
    def _subnet_needs_vpc(self) -> PulumiAwsBackend:
        if self.subnet_id and not self.vpc_id:
            raise ValueError(at("vpc_id", "is required when subnet_id is given"))
        return self


PulumiBackend = Annotated[PulumiLibvirtBackend | PulumiAwsBackend, Field(discriminator="type")]


class PulumiProviderSpec(StrictModel):
    """VMs created through the Pulumi Automation API (needs the `pulumi` CLI installed)."""

    kind: Literal["pulumi"] = Field(description="Machine backend: Pulumi.")
    backend: PulumiBackend = Field(description="Where the VMs live: libvirt or aws.")
    passphrase_env: str = Field(
        "PULUMI_CONFIG_PASSPHRASE",
        description="Environment variable holding the stack's secrets passphrase (never stored).",
    )


ProviderSpec = Annotated[
    VagrantProviderSpec | StaticProviderSpec | PulumiProviderSpec, Field(discriminator="kind")
]
