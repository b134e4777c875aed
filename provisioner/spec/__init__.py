"""The cluster spec: validated, frozen data that knows nothing of machines, state or
backends. `model` is the spec (`ClusterSpec` and its sections; `base`, `providers`,
`security` and `monitoring` hold the parts), `yaml_loader` the hardened YAML reading with
line numbers, `file` loading and editing a spec file, `doc` the generated reference.

The names below are the spec's public models (`from provisioner.spec import ClusterSpec`).
"""

from .model import *  # noqa: F403  (the model's public names, as listed in its __all__)
from .model import __all__ as __all__
