"""`diagnose`: the support bundle. `bundle` collects the cluster's part (health, state,
inventory, spec and logs, redacted) and writes the tar.gz; `host` what one host gives over
SSH (journals, configs, versions, the endpoints' answers)."""

from .bundle import DiagnoseResult, collect_bundle

__all__ = ["DiagnoseResult", "collect_bundle"]
