"""The plugin contract: everything an adapter architecture, a composition block or a model
family touches of hubcli, in one package.

Plugins are found through entry points (see ``hubcli.discovery``) and import their hubcli names
from here only: ``from hubcli.plugin_api import ArchitecturePlugin, AdapterFolder, ...``. This
package is imported by fast commands, so it imports nothing heavy: torch appears only in
annotations and inside methods that need it. The torch-side base classes a plugin's model code
subclasses live in ``hubcli.plugin_api.torch_modules``, which this ``__init__`` does not import:
import it where your model code runs.

Submodules, by what they hold: ``kinds`` (the three plugin kinds), ``adapters`` (detected,
loaded, untrained), ``updates`` (per-module updates), ``model`` (insertion points, sizes, the
attach target), ``routing`` (what composition blocks route), ``arguments`` (checks of a block's
spec arguments), ``errors``, ``folders`` and ``tensors`` (adapter files and tensor headers).
docs/plugin-contract.md lists every name.
"""

from __future__ import annotations

from hubcli.plugin_api.adapters import FILE_ROLES, DetectedAdapter, LoadedAdapter, UntrainedAdapter
from hubcli.plugin_api.arguments import flag_argument, number_list_argument, sizes_argument
from hubcli.plugin_api.errors import (
    AdapterFormatError,
    AdapterValidationError,
    CapabilityNotSupported,
    CompositionError,
    HubcliError,
    ModelMismatchError,
    PluginError,
    SpecError,
    UnsafeInputError,
)
from hubcli.plugin_api.folders import AdapterFolder
from hubcli.plugin_api.kinds import (
    MODEL_SIDE,
    PLUGIN_API_VERSION,
    ArchitecturePlugin,
    CompositionPlugin,
    ModelFamilyPlugin,
    Plugin,
)
from hubcli.plugin_api.model import AttachTarget, InsertionPoints, LeafSlot, ModelDims, SubBlockSlot
from hubcli.plugin_api.routing import (
    BATCH,
    SEQUENCE,
    ActiveComposition,
    Child,
    HeadRouted,
    Routed,
    SubBlockRouted,
    route_pieces,
    route_rows,
)
from hubcli.plugin_api.tensors import TensorInfo, read_safetensors_header
from hubcli.plugin_api.updates import LowRankUpdate, ModuleUpdate, ParameterUpdate, ScaleUpdate

__all__ = [
    # kinds
    "PLUGIN_API_VERSION",
    "Plugin",
    "ArchitecturePlugin",
    "CompositionPlugin",
    "ModelFamilyPlugin",
    "MODEL_SIDE",
    # adapters
    "FILE_ROLES",
    "DetectedAdapter",
    "LoadedAdapter",
    "UntrainedAdapter",
    # updates
    "ModuleUpdate",
    "LowRankUpdate",
    "ScaleUpdate",
    "ParameterUpdate",
    # model
    "InsertionPoints",
    "ModelDims",
    "AttachTarget",
    "LeafSlot",
    "SubBlockSlot",
    # routing
    "BATCH",
    "SEQUENCE",
    "Routed",
    "Child",
    "SubBlockRouted",
    "HeadRouted",
    "ActiveComposition",
    "route_pieces",
    "route_rows",
    # arguments
    "number_list_argument",
    "sizes_argument",
    "flag_argument",
    # errors
    "HubcliError",
    "AdapterFormatError",
    "AdapterValidationError",
    "UnsafeInputError",
    "PluginError",
    "CapabilityNotSupported",
    "ModelMismatchError",
    "SpecError",
    "CompositionError",
    # folders and tensor headers
    "AdapterFolder",
    "TensorInfo",
    "read_safetensors_header",
]
