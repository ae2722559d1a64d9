"""Built-in adapter architectures: one sub-package per method."""
