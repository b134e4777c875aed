"""Machine providers: one module per backend, chosen by the spec's `provider.kind`."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..spec import ClusterSpec
from .base import ProgressCallback, Provider

#: provider.kind -> "module:Class"; adding a backend is one new module and one line here.
REGISTRY: dict[str, str] = {
    "vagrant": "provisioner.providers.vagrant:VagrantProvider",
    "static": "provisioner.providers.static:StaticProvider",
    "pulumi": "provisioner.providers.pulumi:PulumiProvider",
}


def provider_for(
    spec: ClusterSpec, state_dir: Path, progress: ProgressCallback | None = None
) -> Provider:
    """Instantiate the provider the spec names (imported lazily: pulumi is heavy)."""
    module_name, class_name = REGISTRY[spec.provider.kind].split(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    return cls(spec, state_dir, progress)


__all__ = ["REGISTRY", "Provider", "provider_for"]
