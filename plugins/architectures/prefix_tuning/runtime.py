"""Prefix tuning's model side (torch), as ``PrefixTuningArchitecture.runtime`` names it: hubcli
imports this module the first time a model runs or weights are read, and calls its
functions for the plugin's model-side methods of the same names; the plugin class
forwards nothing."""

from __future__ import annotations

from plugins.architectures.prefix_tuning.layer import attach
from plugins.architectures.prefix_tuning.updates import module_updates

__all__ = ["attach", "module_updates"]
