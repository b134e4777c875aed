"""Talking to the cluster's hosts over SSH: the one `connect()` every command logs in with
(host-key policy, key loading, timeouts in one place). Knows machines, not clusters, health
or commands: health, drift, diagnose, chaos and doctor build on it."""
