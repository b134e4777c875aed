"""libvirt program: a NAT network, a base image and one cloud-init VM per machine.

Addresses are static (DHCP is off on the network): machine *k* without an address gets the
lowest free address from ``first usable + 10`` on, and the provider passes existing machines
in with their current address, so outputs are deterministic and removing one machine never
renumbers the others.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_libvirt as libvirt
import yaml

from ..domain import PlannedMachine
from ..spec import ClusterSpec, PulumiLibvirtBackend, PulumiProviderSpec
from . import MACHINES_OUTPUT, HostKeys, machine_record, user_data_input

#: Offset of the first machine address from the network's first usable address (the gateway).
ADDRESS_OFFSET = 10
GIB = 1024**3


def gateway_address(network_cidr: str) -> str:
    """libvirt gives a NAT network's first usable address to the host bridge (the gateway)."""
    return str(ipaddress.IPv4Network(network_cidr).network_address + 1)


def assign_addresses(network_cidr: str, machines: list[PlannedMachine]) -> list[PlannedMachine]:
    """Give every machine without an address the lowest free one from first usable + 10."""
    network = ipaddress.IPv4Network(network_cidr)
    first = network.network_address + 1 + ADDRESS_OFFSET
    last = network.broadcast_address - 1
    taken = {ipaddress.IPv4Address(m.address) for m in machines if m.address}
    for machine in machines:
        if machine.address and ipaddress.IPv4Address(machine.address) not in network:
            raise ValueError(f"{machine.name} has address {machine.address} outside {network}")
    candidate = first
    assigned = []
    for machine in machines:
        if machine.address is None:
            while candidate in taken:
                candidate += 1
            if candidate > last:
                raise ValueError(
                    f"network {network} has no free address for {machine.name} "
                    f"(machines use {first}..{last}); choose a larger network_cidr"
                )
            taken.add(candidate)
            machine = replace(machine, address=str(candidate))
        assigned.append(machine)
    return assigned


def network_config(address: str, network_cidr: str) -> str:
    """cloud-init network config v2: the static address, the gateway as route and DNS."""
    network = ipaddress.IPv4Network(network_cidr)
    gateway = gateway_address(network_cidr)
    config = {
        "version": 2,
        "ethernets": {
            "primary": {
                # Debian/Ubuntu cloud images name the virtio NIC ens3/enp1s0; older ones eth0.
                "match": {"name": "e*"},
                "addresses": [f"{address}/{network.prefixlen}"],
                "routes": [{"to": "default", "via": gateway}],
                "nameservers": {"addresses": [gateway]},
            }
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def meta_data(name: str) -> str:
    return yaml.safe_dump({"instance-id": name, "local-hostname": name}, sort_keys=False)


def _constant(record: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """An `apply` callback that waits for its input and gives `record`."""
    return lambda _resolved: record


def libvirt_program(
    spec: ClusterSpec,
    machines: list[PlannedMachine],
    public_key: str,
    host_keys: HostKeys | None = None,
) -> pulumi.Output[list[dict[str, Any]]]:
    """Declare the cluster's libvirt resources and export the machine list."""
    backend = spec.provider.backend if isinstance(spec.provider, PulumiProviderSpec) else None
    if not isinstance(backend, PulumiLibvirtBackend):
        raise TypeError("libvirt_program needs a pulumi provider with backend type libvirt")
    cluster = spec.name
    provider = libvirt.Provider(f"{cluster}-libvirt", uri=backend.uri)
    opts = pulumi.ResourceOptions(provider=provider)

    network = libvirt.Network(
        f"{cluster}-net",
        name=f"{cluster}-net",
        mode="nat",
        addresses=[backend.network_cidr],
        autostart=True,
        dhcp=libvirt.NetworkDhcpArgs(enabled=False),
        dns=libvirt.NetworkDnsArgs(enabled=True, local_only=True),
        opts=opts,
    )
    base = libvirt.Volume(
        f"{cluster}-base",
        name=f"{cluster}-base.qcow2",
        pool=backend.pool,
        source=backend.image_url,
        format="qcow2",
        opts=opts,
    )

    records = []
    for machine in assign_addresses(backend.network_cidr, machines):
        assert machine.address is not None  # assign_addresses fills every address
        injected = (host_keys or {}).get(machine.name)
        root = libvirt.Volume(
            f"{machine.name}-root",
            name=f"{machine.name}-root.qcow2",
            pool=backend.pool,
            base_volume_id=base.id,
            size=backend.disk_gb * GIB,
            format="qcow2",
            opts=opts,
        )
        seed = libvirt.CloudInitDisk(
            f"{machine.name}-cloudinit",
            name=f"{machine.name}-cloudinit.iso",
            pool=backend.pool,
            user_data=user_data_input(spec.ssh.user, public_key, injected),
            meta_data=meta_data(machine.name),
            network_config=network_config(machine.address, backend.network_cidr),
            opts=opts,
        )
        domain = libvirt.Domain(
            machine.name,
            name=machine.name,
            vcpu=machine.cpus,
            memory=machine.memory_mb,
            autostart=True,
            cloudinit=seed.id,
            cpu=libvirt.DomainCpuArgs(mode="host-passthrough"),
            disks=[libvirt.DomainDiskArgs(volume_id=root.id)],
            network_interfaces=[
                libvirt.DomainNetworkInterfaceArgs(
                    network_id=network.id,
                    hostname=machine.name,
                    addresses=[machine.address],
                    wait_for_lease=False,
                )
            ],
            consoles=[libvirt.DomainConsoleArgs(type="pty", target_port="0", target_type="serial")],
            opts=opts,
        )
        record = machine_record(
            machine, machine.address, machine.address, host_key=injected[1] if injected else None
        )
        # Tie each record to its domain so the output only appears once the VM exists.
        records.append(domain.id.apply(_constant(record)))

    exported = pulumi.Output.all(*records).apply(list)
    pulumi.export(MACHINES_OUTPUT, exported)
    return exported
