"""The flag names the stand-in accepts: those of mesos-master and mesos-agent 1.11.

Every real flag name is accepted and shown in /flags so that roles can pass their full flag set;
only the ones listed in README.md change the stand-in's behaviour.
"""

from __future__ import annotations

import os

from .flags import Flag


def _s(name: str, help_: str, default: str | None = None, alias: str | None = None) -> Flag:
    return Flag(name, "string", help_, default, alias=alias)


def _b(name: str, help_: str, default: str = "false", alias: str | None = None) -> Flag:
    return Flag(name, "bool", help_, default, alias=alias)


def _d(name: str, help_: str, default: str | None = None, alias: str | None = None) -> Flag:
    return Flag(name, "duration", help_, default, alias=alias)


def _i(name: str, help_: str, default: str | None = None, alias: str | None = None) -> Flag:
    return Flag(name, "int", help_, default, alias=alias)


_COMMON = [
    _s("ip", "IPv4 address to listen on (exported as LIBPROCESS_IP)."),
    _s("ip_discovery_command", "Command whose output is the IP to listen on (not with --ip)."),
    _s("advertise_ip", "IPv4 address advertised in the PID, MasterInfo and redirects."),
    Flag("advertise_port", "port", "Port advertised in the PID, MasterInfo and redirects."),
    _s("hostname", "Hostname to advertise; reverse lookup of the IP when unset."),
    _b("hostname_lookup", "Reverse-resolve the IP when --hostname is unset.", "true"),
    _d("zk_session_timeout", "ZooKeeper session timeout.", "10secs"),
    _s("log_dir", "Directory for log files (the stand-in writes <program>.INFO there)."),
    _s("external_log_file", "Log file written by an external logger, shown in state."),
    _s("logging_level", "Lowest level logged (INFO, WARNING, ERROR).", "INFO"),
    _b("quiet", "Do not log to stderr."),
    _i("logbufsecs", "Seconds to buffer log messages.", "0"),
    _b("initialize_driver_logging", "Initialise logging for scheduler/executor drivers.", "true"),
    _b("authenticate_http_readonly", "Require authentication on read-only endpoints."),
    _b("authenticate_http_readwrite", "Require authentication on read-write endpoints."),
    _s("http_authenticators", "HTTP authenticator modules.", "basic"),
    _s("http_credentials", "Path to a JSON file with HTTP credentials."),
    _s("acls", "Access control lists (JSON or file://); masters and agents alike."),
    _s("modules", "Modules to load (JSON or file://)."),
    _s("modules_dir", "Directory of module manifests."),
    _s("hooks", "Hook modules to install."),
    _s("domain", "Fault domain of this node (JSON or file://)."),
    _b("memory_profiling", "Enable memory profiling support."),
    _b("help", "Print this help message and exit."),
    _b("version", "Show version and exit."),
]

MASTER_FLAGS: list[Flag] = [
    *_COMMON,
    Flag("port", "port", "Port to listen on (exported as LIBPROCESS_PORT).", "5050"),
    Flag("zk", "secure", "ZooKeeper URL zk://[user:pass@]host:port,.../path or file:///path."),
    _i("quorum", "Size of the replicated log quorum (required with --zk and replicated_log)."),
    _s("work_dir", "Directory for the replicated log (required with replicated_log)."),
    _s("registry", "Registry persistence: replicated_log or in_memory.", "replicated_log"),
    _d("registry_fetch_timeout", "Registry read deadline; the leader exits past it.", "1mins"),
    _d("registry_store_timeout", "Registry write deadline.", "20secs"),
    _b("registry_strict", "Strict registry checks (unsupported by Mesos).", "false"),
    _d("registry_gc_interval", "How often the registry is garbage collected.", "15mins"),
    _d("registry_max_agent_age", "Oldest removed agent kept in the registry.", "2weeks"),
    _i("registry_max_agent_count", "Most removed agents kept in the registry.", "102400"),
    _b("log_auto_initialize", "Let an empty replicated log initialise itself.", "true"),
    _s("cluster", "Human readable cluster name, shown in state."),
    _d(
        "agent_ping_timeout",
        "Time between pings before a ping counts as missed.",
        "15secs",
        "slave_ping_timeout",
    ),
    _i(
        "max_agent_ping_timeouts",
        "Missed pings before an agent is unreachable.",
        "5",
        "max_slave_ping_timeouts",
    ),
    _d(
        "agent_reregister_timeout",
        "Time for agents to re-register after failover.",
        "10mins",
        "slave_reregister_timeout",
    ),
    _s(
        "agent_removal_rate_limit",
        "Rate limit for removing unhealthy agents.",
        alias="slave_removal_rate_limit",
    ),
    _s(
        "recovery_agent_removal_limit",
        "Limit of agents removed after failover.",
        "100%",
        "recovery_slave_removal_limit",
    ),
    _s("webui_dir", "Directory of the web UI.", "/usr/local/share/mesos/webui"),
    _s("credentials", "Path to a credentials file."),
    _b(
        "authenticate_frameworks",
        "Only authenticated frameworks may register.",
        "false",
        "authenticate",
    ),
    _b(
        "authenticate_agents",
        "Only authenticated agents may register.",
        "false",
        "authenticate_slaves",
    ),
    _b("authenticate_http_frameworks", "Require HTTP framework authentication."),
    _d("authentication_v0_timeout", "Timeout of the v0 authentication.", "15secs"),
    _s("authenticators", "Authenticator modules.", "crammd5"),
    _s("authorizers", "Authorizer modules.", "local"),
    _s("http_framework_authenticators", "HTTP framework authenticator modules."),
    _d("allocation_interval", "Time between allocations.", "1secs"),
    _s("allocator", "Allocator module.", "HierarchicalDRF"),
    _s("framework_sorter", "Framework sorter policy.", "drf"),
    _s("role_sorter", "Role sorter policy.", "drf"),
    _s("user_sorter", "User sorter policy (deprecated).", "drf"),
    _s("fair_sharing_excluded_resource_names", "Resources excluded from fair sharing."),
    _b("filter_gpu_resources", "Only offer GPUs to GPU-aware frameworks.", "true"),
    _s("min_allocatable_resources", "Smallest resources allocated.", "cpus:0.01|mem:32"),
    _i("max_completed_frameworks", "Completed frameworks kept in memory.", "50"),
    _i("max_completed_tasks_per_framework", "Completed tasks kept per framework.", "1000"),
    _i("max_unreachable_tasks_per_framework", "Unreachable tasks kept per framework.", "1000"),
    _i("max_operator_event_stream_subscribers", "Operator API event subscribers.", "1000"),
    _d("offer_timeout", "Time before an offer is rescinded."),
    _b("publish_per_framework_metrics", "Publish metrics per framework.", "true"),
    _s("rate_limits", "Framework message rate limits (JSON)."),
    _b("require_agent_domain", "Agents must declare a fault domain."),
    _s("roles", "Allowed roles (deprecated)."),
    _b("root_submissions", "Allow frameworks running as root.", "true"),
    _s("weights", "Role weights (deprecated)."),
    _s("master_contender", "Master contender module."),
    _s("master_detector", "Master detector module."),
]

AGENT_FLAGS: list[Flag] = [
    *_COMMON,
    Flag("port", "port", "Port to listen on (exported as LIBPROCESS_PORT).", "5051"),
    Flag("master", "secure", "Master: host:port, zk://host:port,.../path or file:///path."),
    _s("master_detector", "Master detector module (instead of --master)."),
    Flag("work_dir", "string", "Directory for agent state (meta/slaves/latest).", required=True),
    _s("runtime_dir", "Directory for runtime state.", "/var/run/mesos"),
    _s("resources", "Resources: 'cpus:2;mem:2048;...' or a JSON array."),
    _s("attributes", "Attributes: 'rack:r1;level:10'."),
    _s("default_role", "Role of resources without one (deprecated).", "*"),
    _s(
        "launcher",
        "Container launcher: linux or posix.",
        "linux" if os.path.isdir("/sys/fs/cgroup") and os.geteuid() == 0 else "posix",
    ),
    _s("isolation", "Isolators.", "posix/cpu,posix/mem"),
    _s("containerizers", "Containerizers, tried in order.", "mesos"),
    _b("systemd_enable_support", "Use systemd to keep executors alive.", "true"),
    _s("systemd_runtime_directory", "systemd runtime directory.", "/run/systemd/system"),
    _d(
        "registration_backoff_factor", "Upper bound of the random (re-)registration delay.", "1secs"
    ),
    _s(
        "reconfiguration_policy",
        "Allowed agent info changes on restart: equal or additive.",
        "equal",
    ),
    _s("recover", "reconnect or cleanup.", "reconnect"),
    _d("recovery_timeout", "Time allowed for executor recovery.", "15mins"),
    _b("strict", "Fail recovery on any error.", "true"),
    _s("cgroups_hierarchy", "cgroups mount point.", "/sys/fs/cgroup"),
    _s("cgroups_root", "cgroups root for containers.", "mesos"),
    _b("cgroups_enable_cfs", "Hard CPU limits with CFS."),
    _b("cgroups_limit_swap", "Limit swap with memory."),
    _d("container_disk_watch_interval", "Disk usage check interval.", "15secs"),
    _b("enforce_container_disk_quota", "Enforce disk quotas."),
    _d("disk_watch_interval", "Disk usage check interval.", "1mins"),
    _d("gc_delay", "Delay before sandboxes are removed.", "1weeks"),
    Flag("gc_disk_headroom", "float", "Disk headroom for garbage collection.", "0.1"),
    _s("docker", "Docker binary.", "docker"),
    _s("docker_config", "Docker config (JSON or file://)."),
    _b("docker_kill_orphans", "Kill orphaned docker containers.", "true"),
    _s("docker_mesos_image", "Image the agent itself runs in."),
    _s("docker_registry", "Default docker registry.", "https://registry-1.docker.io"),
    _d("docker_remove_delay", "Delay before removing containers.", "6hrs"),
    _s("docker_socket", "Docker socket.", "/var/run/docker.sock"),
    _d("docker_stop_timeout", "Docker stop timeout.", "0ns"),
    _s("docker_store_dir", "Docker image store.", "/tmp/mesos/store/docker"),
    _s(
        "docker_volume_checkpoint_dir",
        "Docker volume checkpoints.",
        "/var/run/mesos/isolators/docker/volume",
    ),
    _s("appc_store_dir", "Appc image store.", "/tmp/mesos/store/appc"),
    _s("image_providers", "Container image providers."),
    _s("image_provisioner_backend", "Image provisioner backend."),
    _s("executor_environment_variables", "Executor environment (JSON)."),
    _d("executor_registration_timeout", "Executor registration timeout.", "1mins"),
    _d("executor_shutdown_grace_period", "Executor shutdown grace period.", "5secs"),
    _s("fetcher_cache_dir", "Fetcher cache directory.", "/tmp/mesos/fetch"),
    _s("fetcher_cache_size", "Fetcher cache size.", "2GB"),
    _s("frameworks_home", "Directory prepended to executor URIs."),
    _s("launcher_dir", "Directory of helper binaries.", "/usr/local/libexec/mesos"),
    _s("network_cni_config_dir", "CNI network configurations."),
    _s("network_cni_plugins_dir", "CNI plugins."),
    _d("oversubscribed_resources_interval", "Oversubscription update interval.", "15secs"),
    _s("qos_controller", "QoS controller module."),
    _d("qos_correction_interval_min", "QoS correction interval.", "0ns"),
    _s("resource_estimator", "Resource estimator module."),
    _s("perf_events", "perf events to sample."),
    _d("perf_interval", "perf sampling interval.", "1mins"),
    _d("perf_duration", "perf sampling duration.", "10secs"),
    _b("revocable_cpu_low_priority", "Run revocable tasks at low CPU priority.", "true"),
    _s("sandbox_directory", "Sandbox path inside containers.", "/mnt/mesos/sandbox"),
    _b("switch_user", "Run tasks as the submitting user.", "true"),
    _i("max_completed_executors_per_framework", "Completed executors kept.", "150"),
    _s("agent_features", "Agent capabilities (JSON)."),
    _b("host_path_volume_force_creation", "Create missing host path volumes."),
    _b("http_command_executor", "Use the HTTP command executor."),
    _s("secret_resolver", "Secret resolver module."),
    _s("jwt_secret_key", "Secret for executor JWTs."),
    _s("credential", "Path to the agent's credential."),
    _s("authenticatee", "Authenticatee module.", "crammd5"),
    _d("authentication_backoff_factor", "Authentication retry backoff.", "1secs"),
    _d("authentication_timeout_min", "Minimum authentication timeout.", "5secs"),
    _d("authentication_timeout_max", "Maximum authentication timeout.", "1mins"),
    _b("authenticate_http_executors", "Require executor authentication."),
    _s("resource_provider_config_dir", "Resource provider configurations."),
    _s("csi_plugin_config_dir", "CSI plugin configurations."),
    _s("disk_profile_adaptor", "Disk profile adaptor module."),
    _s("default_container_info", "Default ContainerInfo (JSON)."),
    _s("default_container_dns", "Default container DNS (JSON)."),
    _s("xfs_project_range", "XFS project ids for disk isolation.", "[5000-10000]"),
    _s("volume_gid_range", "Gids for volume ownership."),
    _s("image_gc_config", "Image garbage collection (JSON)."),
]
