"""hubcli: a local registry and workbench for trained adapters.

Kept import-light on purpose: ``hubcli --help``, ``list`` and ``show`` must start without torch,
transformers, peft, textual or huggingface_hub.
"""

__version__ = "0.1.0"
