"""The two user-facing exception types. Both carry where the problem is, so the CLI can print one paragraph."""

from __future__ import annotations


class ConfigError(ValueError):
    """A run or task YAML, or a command-line override, is wrong. The message lists every problem found."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class DataFormatError(ValueError):
    """A data file does not match its declared format; the message starts with ``file:line``."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(where + message)
        self.path = path
        self.line = line
