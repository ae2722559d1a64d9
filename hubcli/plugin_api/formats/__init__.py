"""Format helpers: what a plugin reuses to read, check and write the files of the libraries
hubcli speaks (PEFT, AdapterHub), so that a third-party method reads them as the built-in
ones do. Part of the contract, like the rest of ``hubcli.plugin_api``.

- ``reading``: file names, ``parse`` (pydantic, one-line errors), ``Checker`` for tensor shapes.
- ``peft``: PEFT's adapter folders (envelope, targets, weight names, ``detected``).
- ``adapterhub``: AdapterHub's adapter folders (envelope, heads, the LoRA family's config and keys).
- ``peft_and_adapterhub``: ``detect``/``validate`` for a method both libraries save.
- ``fusion``: saved AdapterFusion files (names, keys, ``FusionSettings``).
- ``conversion``: converting an adapter between PEFT and AdapterHub (where ``adapters`` puts
  modules in a model family, the envelopes, refusals). Runs on loaded tensors.
- ``writing``: writing adapter folders (config and safetensors). Needs torch when called.

The import-side modules (``reading``, ``peft``, ``adapterhub``, ``peft_and_adapterhub``,
``fusion``) import no torch, as ``detect`` and ``validate`` run in ``hubcli add``; this
``__init__`` imports none of them.
"""
