"""Read a stack's config the way the Pulumi CLI hands it to the program.

The CLI merges `Pulumi.yaml` defaults under `Pulumi.<stack>.yaml` values and passes every value as
a string (structured values as JSON). Offline runs do the same, so the program sees what it would
see under `pulumi up`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from boutique.inputs.errors import SettingsError
from boutique.inputs.settings import PROJECT
from boutique.inputs.yamlio import load_yaml_file

# Offline, `secure:` values cannot be decrypted; the program gets this stand-in, marked secret.
SECRET_PLACEHOLDER = "offline-render-secret-placeholder"  # noqa: S105 - not a secret


def project_defaults(project_dir: Path) -> dict[str, Any]:
    """`config:` defaults declared in Pulumi.yaml, as `boutique:<key>` → value."""
    project = load_yaml_file(project_dir / "Pulumi.yaml", SettingsError)
    defaults = {}
    for key, declaration in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(declaration, dict):
            if "default" in declaration:
                defaults[full_key] = declaration["default"]
        else:
            defaults[full_key] = declaration
    return defaults


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def _as_engine_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _without_ciphertext(value: Any) -> tuple[Any, bool]:
    """Replace every `secure:` value, nested ones too (`pulumi config set --secret --path`)."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        pairs = {k: _without_ciphertext(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_without_ciphertext(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def read_stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """The config bag (`boutique:key` → string) and the keys that are secret."""
    path = stack_file(project_dir, stack)
    if not path.exists():
        known = sorted(p.name for p in project_dir.glob("Pulumi.*.yaml"))
        raise SettingsError(f"{path.name}: no such stack file (stacks here: {', '.join(known)})")
    values = dict(project_defaults(project_dir))
    secret_keys = []
    stack_values = load_yaml_file(path, SettingsError).get("config") or {}
    if not isinstance(stack_values, dict):
        raise SettingsError(f"{path.name}: config: expected a mapping of keys to values")
    for key, value in stack_values.items():
        value, secret = _without_ciphertext(value)
        if secret:
            secret_keys.append(key)
        values[key] = value
    return {k: _as_engine_string(v) for k, v in values.items()}, secret_keys
