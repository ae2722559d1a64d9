"""IA³'s model side (torch), as ``IA3Architecture.runtime`` names it: hubcli
imports this module the first time a model runs or weights are read, and calls its
functions for the plugin's model-side methods of the same names; the plugin class
forwards nothing."""

from __future__ import annotations

from plugins.architectures.ia3.conversion import export
from plugins.architectures.ia3.layer import attach, merge, unmerge
from plugins.architectures.ia3.updates import module_updates, write_updates

__all__ = ["attach", "merge", "unmerge", "module_updates", "write_updates", "export"]
