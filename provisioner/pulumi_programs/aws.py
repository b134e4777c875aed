"""AWS program: network (new VPC or a given subnet), one security group, EC2 instances.

The security group opens the ZooKeeper and Mesos ports only to members of the group itself
(a self-referencing rule) and SSH only to ``ssh_cidr``; nothing else comes in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from ..domain import PlannedMachine, Role
from ..ports import CLUSTER_PORTS
from ..spec import ClusterSpec, PulumiAwsBackend, PulumiProviderSpec
from . import MACHINES_OUTPUT, HostKeys, machine_record, role_tags, user_data_input


def instance_type(backend: PulumiAwsBackend, machine: PlannedMachine) -> str:
    """The instance type of the machine's primary role (a master+zookeeper is a master)."""
    return {
        Role.MASTER: backend.master_instance_type,
        Role.AGENT: backend.agent_instance_type,
        Role.ZOOKEEPER: backend.zookeeper_instance_type,
    }[machine.primary_role]


def subnet_cidr(vpc_cidr: str) -> str:
    """The first /24 of the VPC (or the whole VPC when it is smaller)."""
    network = ipaddress.IPv4Network(vpc_cidr, strict=False)
    return str(next(network.subnets(new_prefix=max(24, network.prefixlen))))


IngressRules = list[aws.ec2.SecurityGroupIngressArgsDict]
EgressRules = list[aws.ec2.SecurityGroupEgressArgsDict]


def security_group_rules(ssh_cidr: str) -> tuple[IngressRules, EgressRules]:
    """(ingress, egress) rules: cluster ports inside the group, SSH from ssh_cidr, egress all."""
    ingress: IngressRules = [
        {
            "description": f"cluster port {port} between cluster machines",
            "protocol": "tcp",
            "from_port": port,
            "to_port": port,
            "self": True,
        }
        for port in CLUSTER_PORTS
    ]
    ingress.append(
        {
            "description": "SSH from the operator",
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "cidr_blocks": [ssh_cidr],
        }
    )
    egress: EgressRules = [
        {
            "description": "all outbound (packages, NTP)",
            "protocol": "-1",
            "from_port": 0,
            "to_port": 0,
            "cidr_blocks": ["0.0.0.0/0"],
        }
    ]
    return ingress, egress


def _network(
    cluster: str, backend: PulumiAwsBackend, opts: pulumi.ResourceOptions
) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
    """(vpc_id, subnet_id): the given ones, or a new public VPC with one subnet."""
    if backend.subnet_id:
        assert backend.vpc_id is not None  # the spec requires vpc_id with subnet_id
        return backend.vpc_id, backend.subnet_id
    tags = {"cluster": cluster}
    vpc = aws.ec2.Vpc(
        f"{cluster}-vpc",
        cidr_block=backend.vpc_cidr,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        tags={**tags, "Name": f"{cluster}-vpc"},
        opts=opts,
    )
    subnet = aws.ec2.Subnet(
        f"{cluster}-subnet",
        vpc_id=vpc.id,
        cidr_block=subnet_cidr(backend.vpc_cidr),
        map_public_ip_on_launch=True,
        tags={**tags, "Name": f"{cluster}-subnet"},
        opts=opts,
    )
    gateway = aws.ec2.InternetGateway(
        f"{cluster}-igw", vpc_id=vpc.id, tags={**tags, "Name": f"{cluster}-igw"}, opts=opts
    )
    routes = aws.ec2.RouteTable(
        f"{cluster}-routes",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
        tags={**tags, "Name": f"{cluster}-routes"},
        opts=opts,
    )
    aws.ec2.RouteTableAssociation(
        f"{cluster}-routes-assoc", subnet_id=subnet.id, route_table_id=routes.id, opts=opts
    )
    return vpc.id, subnet.id


def _record(machine: PlannedMachine, host_key: str | None) -> Callable[[list[Any]], dict[str, Any]]:
    """An `apply` callback: the machine's record from its (private IP, public IP)."""

    def record(ips: list[Any]) -> dict[str, Any]:
        private_ip, public_ip = ips
        return machine_record(
            machine,
            public_ip or private_ip,
            private_ip=private_ip,
            public_ip=public_ip or None,
            host_key=host_key,
        )

    return record


def aws_program(
    spec: ClusterSpec,
    machines: list[PlannedMachine],
    public_key: str,
    host_keys: HostKeys | None = None,
) -> pulumi.Output[list[dict[str, Any]]]:
    """Declare the cluster's AWS resources and export the machine list."""
    backend = spec.provider.backend if isinstance(spec.provider, PulumiProviderSpec) else None
    if not isinstance(backend, PulumiAwsBackend):
        raise TypeError("aws_program needs a pulumi provider with backend type aws")
    cluster = spec.name
    provider = aws.Provider(f"{cluster}-aws", region=backend.region)
    opts = pulumi.ResourceOptions(provider=provider)

    vpc_id, subnet_id = _network(cluster, backend, opts)
    ingress, egress = security_group_rules(backend.ssh_cidr)
    group = aws.ec2.SecurityGroup(
        f"{cluster}-sg",
        description=f"dcos-provision cluster {cluster}",
        vpc_id=vpc_id,
        ingress=ingress,
        egress=egress,
        tags={"cluster": cluster, "Name": f"{cluster}-sg"},
        opts=opts,
    )
    key_pair = aws.ec2.KeyPair(
        f"{cluster}-key",
        key_name=f"{cluster}-key",
        public_key=public_key.strip(),
        tags={"cluster": cluster},
        opts=opts,
    )

    records = []
    for machine in machines:
        injected = (host_keys or {}).get(machine.name)
        instance = aws.ec2.Instance(
            machine.name,
            ami=backend.ami,
            instance_type=instance_type(backend, machine),
            subnet_id=subnet_id,
            vpc_security_group_ids=[group.id],
            key_name=key_pair.key_name,
            user_data=user_data_input(spec.ssh.user, public_key, injected),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=backend.root_volume_gb,
                volume_type="gp3",
                delete_on_termination=True,
            ),
            tags=role_tags(cluster, machine),
            opts=opts,
        )
        records.append(
            pulumi.Output.all(instance.private_ip, instance.public_ip).apply(
                _record(machine, injected[1] if injected else None)
            )
        )

    exported = pulumi.Output.all(*records).apply(list)
    pulumi.export(MACHINES_OUTPUT, exported)
    return exported
