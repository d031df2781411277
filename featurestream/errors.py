"""One error hierarchy for the whole platform.

Every error a user can trigger derives from :class:`FeatureStreamError` and says what was
expected, what was found, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DefinitionError",
    "FeatureStreamError",
    "RegistryError",
    "StackError",
]


class FeatureStreamError(Exception):
    """Root of every error featurestream raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  fix: {hint}")


class ConfigError(FeatureStreamError):
    """``featurestream.yaml`` or an environment override is invalid."""


class StackError(FeatureStreamError):
    """A local service could not be set up, started, stopped or reached."""


class DefinitionError(FeatureStreamError):
    """A source or feature-view file is malformed; carries the file and line."""

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, hint: str | None = None
    ) -> None:
        self.path = path
        self.line = line
        where = path if path is not None else "<definition>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}", hint=hint)


class RegistryError(FeatureStreamError):
    """A registry operation was refused (version rules, unknown names, conflicts)."""
