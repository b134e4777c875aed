"""Talking to the cluster's hosts: `connect` is the one SSH login every command uses
(host-key policy, key loading, timeouts in one place); `probes` reaches the service ports
directly (TCP, HTTP(S), ZooKeeper's four-letter words), `ssh` the same through each host's
SSH server, `zkwire` reads znodes, `tlsstream` runs TLS over any stream. Knows machines and
ports, not clusters or health: health, drift, diagnose, chaos and doctor build on it."""
