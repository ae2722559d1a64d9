"""The bottleneck adapters' model side (torch), as ``BottleneckArchitecture.runtime`` names it: hubcli
imports this module the first time a model runs or weights are read, and calls its
functions for the plugin's model-side methods of the same names; the plugin class
forwards nothing."""

from __future__ import annotations

from plugins.architectures.bottleneck.layer import attach
from plugins.architectures.bottleneck.updates import module_updates, write_updates

__all__ = ["attach", "module_updates", "write_updates"]
