"""The cluster spec: validated, frozen data that knows nothing of machines, state or
backends. `model` is the spec (`ClusterSpec` and its sections; `base`, `providers`,
`security` and `monitoring` hold the parts), `yaml_loader` the hardened YAML reading with
line numbers, `file` loading and editing a spec file, `doc` the generated reference.

The names below are the spec's public models (`from provisioner.spec import ClusterSpec`).
"""

from .model import (
    AGENT_OWNED_FLAGS,
    MASTER_OWNED_FLAGS,
    ODD_COUNTS,
    AgentGroup,
    AgentResources,
    ClusterSpec,
    FirewallSpec,
    InstallSpec,
    MasterGroup,
    MesosSpec,
    MonitoringSpec,
    ProviderSpec,
    PulumiAwsBackend,
    PulumiBackend,
    PulumiLibvirtBackend,
    PulumiProviderSpec,
    SecuritySpec,
    SshSpec,
    StaticHost,
    StaticProviderSpec,
    StrictModel,
    VagrantProviderSpec,
    ZooKeeperSpec,
    at,
)

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
