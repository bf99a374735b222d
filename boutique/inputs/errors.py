"""One error type per input, each with a message naming the file, the field and what is expected.

Pydantic's own messages speak of its classes and regexes ("Input should be a valid dictionary or
instance of Subjects", "Extra inputs are not permitted"); `format_validation_error` turns every
error into plain words, for the catalog and the stack settings alike, so no message does it twice.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError


class InputError(Exception):
    """Bad user input: the CLI prints the message (no traceback) and exits 2."""


class CatalogError(InputError):
    """The catalog (services.yaml) is invalid."""


class SettingsError(InputError):
    """A stack's config (Pulumi.<stack>.yaml) is invalid."""


# What each string pattern means, in words: error messages say this instead of the regex.
PATTERN_MEANINGS: dict[str, str] = {}


def described(regex: str, meaning: str) -> str:
    """Record what `regex` means (a noun phrase: "a DNS-1123 label: ..."); returns the regex."""
    PATTERN_MEANINGS[regex] = meaning
    return regex


def pattern_meaning(regex: str) -> tuple[str, bool] | None:
    """`regex` in words, and whether the empty string is also allowed (`^$|X` or `X|^$`)."""
    if regex in PATTERN_MEANINGS:
        return PATTERN_MEANINGS[regex], False
    for rest in (regex.removeprefix("^$|"), regex.removesuffix("|^$")):
        if rest != regex and rest in PATTERN_MEANINGS:
            return PATTERN_MEANINGS[rest], True
    return None


def nearest(word: str, known: Iterable[str]) -> str | None:
    """The known word closest to `word` (a typo's likely meaning), if any is close."""
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def _shown(value: Any) -> str:
    """A value as the file would show it; containers and numbers by kind only (a secret is never
    a container or a number, and a long mapping is no help in one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation may hold: `X | None`, `Annotated[X, ...]` and unions taken apart."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg) if t is not type(None)]
    return [annotation]


def _key_of(model: type[BaseModel], field_name: str) -> str:
    return model.model_fields[field_name].alias or field_name


def _step(annotation: Any, part: Any) -> Any:
    """The annotation one step down a pydantic error location (a field, a dict value, an item)."""
    for option in _unwrap(annotation):
        origin = typing.get_origin(option)
        if isinstance(option, type) and issubclass(option, BaseModel):
            for name, field in option.model_fields.items():
                if part in (name, _key_of(option, name)):
                    return field.annotation
        elif origin is dict and isinstance(part, str):
            return typing.get_args(option)[1]
        elif origin is list and isinstance(part, int):
            return typing.get_args(option)[0]
    return None


def known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at `loc` accepts (as written in the file), in declaration order."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
    models = [t for t in _unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    return [_key_of(models[0], name) for name in models[0].model_fields] if models else []


def _plain(error: dict[str, Any], model: type[BaseModel] | None, full_path: str) -> str:
    """One pydantic error in words."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    loc = tuple(error["loc"])
    subject = f"the key {_shown(value)}" if loc[-1:] == ("[key]",) else _shown(value)
    if kind == "extra_forbidden":
        known = known_keys(model, loc[:-1]) if model else []
        near = nearest(str(loc[-1]), known)
        hint = f"did you mean {full_path.rsplit(str(loc[-1]), 1)[0]}{near}? " if near else ""
        return f"unknown key; {hint}known keys here: {', '.join(known)}" if known else "unknown key"
    if kind == "missing":
        return "required, but missing"
    if kind == "string_pattern_mismatch":
        meaning, or_empty = pattern_meaning(ctx["pattern"]) or (f"of the form {ctx['pattern']}", False)
        return f"{subject} is neither empty nor {meaning}" if or_empty else f"{subject} is not {meaning}"
    if kind in ("literal_error", "enum"):
        return f"{subject} is not one of {ctx['expected']}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value), got {_shown(value)}"
    simple = {
        "list_type": "expected a list",
        "string_type": "expected text",
        "int_type": "expected a whole number",
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
    }
    if kind in simple:
        return f"{simple[kind]}, got {_shown(value)}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx[key]}, got {value}"
    if kind == "string_too_short":
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} item(s), got {ctx.get('actual_length', 0)}"
    if kind == "too_long":
        return f"takes at most {ctx['max_length']} item(s)"
    # Our own validators' messages are already plain words.
    return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


def field_path(loc: Iterable[Any]) -> str:
    """`services.cartservice.ports.container`, `operators[0]`; a dict key's own error is the key's."""
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def problems(exc: ValidationError, model: type[BaseModel] | None = None, prefix: str = "") -> list[tuple[str, str]]:
    """(field as written in the file, what is wrong in plain words) for each error of `exc`.

    `model` (the one validated) lets an unknown key list the keys it accepts. An error of the
    whole model (loc empty) is written by our validators as `key: message` already.
    """
    found = []
    for error in exc.errors():
        path = f"{prefix}{field_path(error['loc'])}" if error["loc"] else ""
        found.append((path, _plain(error, model, path)))
    return found


def format_validation_error(
    file_name: str, exc: ValidationError, model: type[BaseModel] | None = None, prefix: str = ""
) -> str:
    """`file: path.to.field: message` for every error, one per line, in plain words."""
    lines = []
    for path, text in problems(exc, model, prefix):
        # A whole-model check reports every mistake it found, one `key: message` per line.
        for message in text.splitlines() if not path else [text]:
            if not path and prefix and not message.startswith(prefix):
                message = prefix + message  # a whole-model message names its key without the prefix
            lines.append(f"{file_name}: {path}: {message}" if path else f"{file_name}: {message}")
    return "\n".join(lines)
