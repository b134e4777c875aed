"""The Pulumi programs run offline under pulumi.runtime.set_mocks: resource graph and outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from provisioner.hostkeys import key_pair
from provisioner.pulumi_programs import MACHINES_OUTPUT, program_for
from provisioner.pulumi_programs.libvirt import assign_addresses
from provisioner.spec import ClusterSpec
from provisioner.topology import plan_machines

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_aws")

#: How a secret input reaches the mocks (pulumi.runtime.rpc's special signature).
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@example"


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource; EC2 instances get deterministic private/public IPs."""

    def __init__(self, public_ips: bool = True) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.public_ips = public_ips

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == "aws:ec2/instance:Instance":
            index = sum(r.typ == args.typ for r in self.resources)
            state["privateIp"] = f"10.20.0.{10 + index}"
            state["publicIp"] = f"198.51.100.{index}" if self.public_ips else ""
        if args.typ == "aws:ec2/keyPair:KeyPair":
            state.setdefault("keyName", args.name)
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> pulumi.runtime.MockResourceArgs:
        (match,) = [r for r in self.resources if r.name == name]
        return match


@pytest.fixture
def mocks() -> RecordingMocks:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, preview=False)
    return recorder


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    captured: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: captured.__setitem__(name, value))
    return captured


def run_program(
    spec: ClusterSpec, exports: dict[str, Any], machines=None, host_keys=None
) -> list[dict]:
    """Run the spec's program under the active mocks; return the resolved `machines` export."""
    program = program_for(spec.provider.backend.type)
    planned = plan_machines(spec) if machines is None else machines
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def declare():
        program(spec, planned, PUBLIC_KEY, host_keys)
        return exports[MACHINES_OUTPUT].apply(lambda value: result.setdefault("machines", value))

    declare()
    return result["machines"]


def libvirt_spec(**backend: Any) -> ClusterSpec:
    return ClusterSpec.model_validate(
        {
            "name": "lab",
            "provider": {"kind": "pulumi", "backend": {"type": "libvirt", **backend}},
            "masters": {"count": 3, "cpus": 2, "memory_mb": 2048},
            "agents": {"count": 2, "cpus": 4, "memory_mb": 6144},
            "ssh": {"user": "ops"},
        }
    )


def aws_spec(**backend: Any) -> ClusterSpec:
    return ClusterSpec.model_validate(
        {
            "name": "prod",
            "provider": {
                "kind": "pulumi",
                "backend": {
                    "type": "aws",
                    "region": "eu-west-1",
                    "ami": "ami-0abc",
                    "ssh_cidr": "203.0.113.7/32",
                    **backend,
                },
            },
            "masters": {"count": 1},
            "zookeeper": {"placement": "dedicated", "count": 3},
            "agents": {"count": 2},
            "ssh": {"user": "admin"},
        }
    )


# --------------------------------------------------------------------------- libvirt


def test_libvirt_resource_graph(mocks: RecordingMocks, exports: dict[str, Any]) -> None:
    machines = run_program(libvirt_spec(disk_gb=40, network_cidr="10.17.3.0/24"), exports)

    assert len(mocks.of_type("pulumi:providers:libvirt")) == 1
    (network,) = mocks.of_type("libvirt:index/network:Network")
    assert network.inputs["addresses"] == ["10.17.3.0/24"]
    assert network.inputs["mode"] == "nat"
    assert network.inputs["dhcp"] == {"enabled": False}
    volumes = mocks.of_type("libvirt:index/volume:Volume")
    assert len(volumes) == 1 + 5  # the base image plus one root disk per machine
    base = mocks.named("lab-base")
    assert base.inputs["source"].startswith("https://cloud.debian.org/")
    assert mocks.named("lab-agent-1-root").inputs["size"] == 40 * 1024**3
    assert mocks.named("lab-agent-1-root").inputs["baseVolumeId"] == "lab-base-id"
    assert len(mocks.of_type("libvirt:index/cloudInitDisk:CloudInitDisk")) == 5

    domains = {d.name: d.inputs for d in mocks.of_type("libvirt:index/domain:Domain")}
    assert sorted(domains) == sorted(m.name for m in plan_machines(libvirt_spec()))
    assert (domains["lab-master-2"]["vcpu"], domains["lab-master-2"]["memory"]) == (2, 2048)
    assert (domains["lab-agent-1"]["vcpu"], domains["lab-agent-1"]["memory"]) == (4, 6144)
    assert domains["lab-agent-1"]["cloudinit"] == "lab-agent-1-cloudinit-id"
    nic = domains["lab-master-1"]["networkInterfaces"][0]
    assert nic["networkId"] == "lab-net-id"
    assert nic["addresses"] == ["10.17.3.11"]

    assert [(m["name"], m["address"], m["zookeeper_id"]) for m in machines] == [
        ("lab-master-1", "10.17.3.11", 1),
        ("lab-master-2", "10.17.3.12", 2),
        ("lab-master-3", "10.17.3.13", 3),
        ("lab-agent-1", "10.17.3.14", None),
        ("lab-agent-2", "10.17.3.15", None),
    ]
    assert machines[0]["roles"] == ["master", "zookeeper"]


def test_libvirt_cloud_init_installs_key_sudo_python_and_static_address(
    mocks: RecordingMocks, exports: dict[str, Any]
) -> None:
    run_program(libvirt_spec(network_cidr="192.168.122.0/24"), exports)
    seed = mocks.named("lab-agent-2-cloudinit").inputs
    assert seed["userData"].startswith("#cloud-config\n")
    user_data = yaml.safe_load(seed["userData"])
    (user,) = user_data["users"]
    assert user["name"] == "ops"
    assert user["ssh_authorized_keys"] == [PUBLIC_KEY]
    assert user["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    assert "python3" in user_data["packages"]
    net = yaml.safe_load(seed["networkConfig"])["ethernets"]["primary"]
    assert net["addresses"] == ["192.168.122.15/24"]
    assert net["routes"] == [{"to": "default", "via": "192.168.122.1"}]
    assert yaml.safe_load(seed["metaData"])["local-hostname"] == "lab-agent-2"


def secret_value(value: Any) -> str:
    """The plain text of a resource input that must be a Pulumi secret (encrypted in the
    stack state); fails for a plain value."""
    assert isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_SIG_VALUE, value
    return str(value["value"])


def injected_keys(tmp_path: Path, names: list[str]) -> dict[str, tuple[str, str]]:
    pairs = {name: key_pair(tmp_path, name) for name in names}
    return {name: (pair.private, pair.public) for name, pair in pairs.items()}


@pytest.mark.parametrize("backend", ["libvirt", "aws"])
def test_injected_host_keys_reach_cloud_init_as_secrets(
    backend: str, mocks: RecordingMocks, exports: dict[str, Any], tmp_path: Path
) -> None:
    spec = libvirt_spec() if backend == "libvirt" else aws_spec()
    names = [m.name for m in plan_machines(spec)]
    keys = injected_keys(tmp_path, names[1:])  # the first one predates injection
    machines = run_program(spec, exports, host_keys=keys)

    if backend == "libvirt":
        inputs = {r.name[: -len("-cloudinit")]: r.inputs for r in
                  mocks.of_type("libvirt:index/cloudInitDisk:CloudInitDisk")}  # fmt: skip
    else:
        inputs = {r.name: r.inputs for r in mocks.of_type("aws:ec2/instance:Instance")}
    for name in names[1:]:
        private, public = keys[name]
        user_data = yaml.safe_load(secret_value(inputs[name]["userData"]))
        assert user_data["ssh_keys"] == {"ed25519_private": private, "ed25519_public": public}
        assert user_data["ssh_deletekeys"] is True
        assert user_data["ssh_genkeytypes"] == []  # sshd offers only the key we know
        assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        assert public.startswith("ssh-ed25519 ")
    assert isinstance(inputs[names[0]]["userData"], str)  # not a secret: nothing private in it
    first = yaml.safe_load(inputs[names[0]]["userData"])
    assert "ssh_keys" not in first and "ssh_deletekeys" not in first  # its user data unchanged
    by_name = {m["name"]: m for m in machines}
    assert by_name[names[0]]["host_key"] is None
    assert [by_name[n]["host_key"] for n in names[1:]] == [keys[n][1] for n in names[1:]]


def test_libvirt_keeps_existing_addresses_when_a_machine_is_dropped(
    mocks: RecordingMocks, exports: dict[str, Any]
) -> None:
    planned = plan_machines(libvirt_spec())
    # agent-1 was removed; agent-2 keeps .15 and a new agent-3 takes the lowest free address.
    kept = [replace(m, address=f"10.17.3.{11 + i}") for i, m in enumerate(planned[:3])]
    agent_2 = replace(planned[4], address="10.17.3.15")
    agent_3 = replace(planned[4], name="lab-agent-3")
    machines = run_program(libvirt_spec(), exports, [*kept, agent_2, agent_3])
    assert {m["name"]: m["address"] for m in machines}["lab-agent-2"] == "10.17.3.15"
    assert {m["name"]: m["address"] for m in machines}["lab-agent-3"] == "10.17.3.14"


def test_address_assignment_runs_out_with_a_clear_message() -> None:
    planned = plan_machines(libvirt_spec())  # five machines
    assert [m.address for m in assign_addresses("10.9.0.0/28", planned[:4])] == [
        "10.9.0.11",
        "10.9.0.12",
        "10.9.0.13",
        "10.9.0.14",
    ]
    with pytest.raises(ValueError, match=r"no free address for lab-agent-2 .*larger network"):
        assign_addresses("10.9.0.0/28", planned)


# --------------------------------------------------------------------------- aws


def test_aws_resource_graph_with_new_vpc(mocks: RecordingMocks, exports: dict[str, Any]) -> None:
    machines = run_program(aws_spec(root_volume_gb=50), exports)

    counts = {
        typ: len(mocks.of_type(typ))
        for typ in (
            "aws:ec2/vpc:Vpc",
            "aws:ec2/subnet:Subnet",
            "aws:ec2/internetGateway:InternetGateway",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/keyPair:KeyPair",
            "aws:ec2/instance:Instance",
        )
    }
    assert counts == dict.fromkeys(counts, 1) | {"aws:ec2/instance:Instance": 6}
    assert mocks.of_type("pulumi:providers:aws")[0].inputs["region"] == "eu-west-1"
    assert mocks.named("prod-vpc").inputs["cidrBlock"] == "10.20.0.0/16"
    assert mocks.named("prod-subnet").inputs["cidrBlock"] == "10.20.0.0/24"
    assert mocks.named("prod-routes").inputs["routes"] == [
        {"cidrBlock": "0.0.0.0/0", "gatewayId": "prod-igw-id"}
    ]
    assert mocks.named("prod-key").inputs["publicKey"] == PUBLIC_KEY

    instances = {i.name: i.inputs for i in mocks.of_type("aws:ec2/instance:Instance")}
    types = {name: inputs["instanceType"] for name, inputs in instances.items()}
    assert types == {
        "prod-master-1": "t3.medium",
        "prod-zk-1": "t3.small",
        "prod-zk-2": "t3.small",
        "prod-zk-3": "t3.small",
        "prod-agent-1": "t3.large",
        "prod-agent-2": "t3.large",
    }
    zk2 = instances["prod-zk-2"]
    assert zk2["tags"] == {"cluster": "prod", "role": "zookeeper", "Name": "prod-zk-2"}
    assert zk2["rootBlockDevice"]["volumeSize"] == 50
    assert zk2["subnetId"] == "prod-subnet-id"
    assert zk2["vpcSecurityGroupIds"] == ["prod-sg-id"]
    assert zk2["ami"] == "ami-0abc"
    assert PUBLIC_KEY in zk2["userData"]

    first = machines[0]
    assert first == {
        "name": "prod-master-1",
        "roles": ["master"],
        "zookeeper_id": None,
        "address": "198.51.100.1",
        "private_ip": "10.20.0.11",
        "public_ip": "198.51.100.1",
        "host_key": None,
    }
    assert [m["zookeeper_id"] for m in machines if "zookeeper" in m["roles"]] == [1, 2, 3]


def test_aws_security_group_keeps_cluster_ports_inside(
    mocks: RecordingMocks, exports: dict[str, Any]
) -> None:
    run_program(aws_spec(), exports)
    group = mocks.named("prod-sg").inputs
    by_port = {rule["fromPort"]: rule for rule in group["ingress"]}
    assert sorted(by_port) == [22, 2181, 2888, 3888, 5050, 5051]
    for port in (2181, 2888, 3888, 5050, 5051):
        assert by_port[port]["self"] is True
        assert by_port[port]["toPort"] == port
        assert "cidrBlocks" not in by_port[port]  # in particular 5050 is not open to 0.0.0.0/0
    assert by_port[22]["cidrBlocks"] == ["203.0.113.7/32"]
    open_to_world = [r for r in group["ingress"] if "0.0.0.0/0" in r.get("cidrBlocks", [])]
    assert open_to_world == []
    assert group["egress"] == [
        {
            "description": "all outbound (packages, NTP)",
            "protocol": "-1",
            "fromPort": 0,
            "toPort": 0,
            "cidrBlocks": ["0.0.0.0/0"],
        }
    ]


def test_aws_uses_given_subnet_and_private_ip_without_public(exports: dict[str, Any]) -> None:
    recorder = RecordingMocks(public_ips=False)
    pulumi.runtime.set_mocks(recorder, preview=False)
    machines = run_program(aws_spec(subnet_id="subnet-123", vpc_id="vpc-456"), exports)
    assert recorder.of_type("aws:ec2/vpc:Vpc") == []
    assert recorder.of_type("aws:ec2/subnet:Subnet") == []
    assert recorder.of_type("aws:ec2/internetGateway:InternetGateway") == []
    assert recorder.named("prod-sg").inputs["vpcId"] == "vpc-456"
    assert recorder.named("prod-agent-1").inputs["subnetId"] == "subnet-123"
    assert machines[0]["address"] == machines[0]["private_ip"] == "10.20.0.11"
    assert machines[0]["public_ip"] is None
