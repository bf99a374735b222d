"""One error type per input, each with a message naming the file, the field and what is expected."""

from __future__ import annotations

from pydantic import ValidationError


class InputError(Exception):
    """Bad user input: the CLI prints the message (no traceback) and exits 2."""


class CatalogError(InputError):
    """The catalog (services.yaml) is invalid."""


class SettingsError(InputError):
    """A stack's config (Pulumi.<stack>.yaml) is invalid."""


def format_validation_error(file_name: str, exc: ValidationError, prefix: str = "") -> str:
    """`file: path.to.field: message` for every pydantic error, one per line."""
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"] if part not in ("function-after",))
        message = error["msg"].removeprefix("Value error, ")
        field = f"{prefix}{path}" if path else prefix.rstrip(".") or "(top level)"
        lines.append(f"{file_name}: {field}: {message}")
    return "\n".join(lines)
