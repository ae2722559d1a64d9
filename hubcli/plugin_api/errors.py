"""The typed errors of hubcli and its plugins.

Every error has a short ``title`` and a one-line ``message`` that names the file or object and
the problem. The CLI prints ``Error: <message>`` and exits 1; the TUI shows a dialog. A plugin
raises these (never a bare exception) to tell the user what is wrong with their input.
"""

from __future__ import annotations


class HubcliError(Exception):
    """Base class: an error the user can act on. Never shown with a traceback."""

    title = "Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AdapterFormatError(HubcliError):
    """Files that cannot be read: malformed JSON, unknown layout, unreadable weights."""

    title = "Unreadable adapter"


class AdapterValidationError(HubcliError):
    """Files that read fine but disagree with each other (config vs tensors)."""

    title = "Invalid adapter"


class UnsafeInputError(HubcliError):
    """Input that would escape its folder or execute code."""

    title = "Unsafe input"


class PluginError(HubcliError):
    """A plugin that cannot be found, loaded or that breaks the contract."""

    title = "Plugin error"


class CapabilityNotSupported(HubcliError):
    """A plugin asked for something it does not offer (e.g. merge for prefix tuning)."""

    title = "Not supported"


class ModelMismatchError(HubcliError):
    """An adapter and a base model that do not fit each other."""

    title = "Model mismatch"


class SpecError(HubcliError):
    """A composition spec that cannot be read or does not make sense; ``column`` (0-based) is
    where in the text form the offending block or adapter starts, when known."""

    title = "Invalid composition"

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


class CompositionError(HubcliError):
    """A composition that cannot run on the inputs it was given (sizes that do not add up …)."""

    title = "Composition error"
