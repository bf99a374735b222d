"""The Pulumi program: what `pulumi up`/`preview` run, and what `render` runs under mocks.

The top of the program: it reads the inputs, checks them together, and hands them to the plans.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.config import get_config_secret_keys_env, is_config_secret

from boutique.inputs.catalog import CATALOG_FILE, Catalog, load_catalog
from boutique.inputs.errors import InputError
from boutique.inputs.settings import Settings, parse_settings, read_config
from boutique.plans.checks import check_inputs
from boutique.plans.stack import build_stack

PROJECT_DIR = Path(__file__).resolve().parent.parent


def settings_from_config(
    stack: str, config: Mapping[str, Any], catalog: Catalog, secret_keys: Collection[str] | None = None
) -> Settings:
    """The stack settings from `boutique:*` config values, checked on their own and against the catalog.

    `secret_keys`: the keys stored encrypted; given, credentials in plain text are refused.
    """
    settings = parse_settings(stack, config)
    check_inputs(f"Pulumi.{stack}.yaml", catalog, settings, secret_keys)
    return settings


def load_inputs(catalog_path: Path = CATALOG_FILE) -> tuple[Catalog, Settings]:
    catalog = load_catalog(catalog_path)
    config = read_config()
    # The engine names the encrypted keys (PULUMI_CONFIG_SECRET_KEYS, which the language host loads).
    secret_keys = {key for key in config if is_config_secret(key)} | set(get_config_secret_keys_env())
    return catalog, settings_from_config(pulumi.get_stack(), config, catalog, secret_keys)


def run(catalog_path: Path = CATALOG_FILE) -> None:
    """Validate the inputs, build the stack and export its outputs.

    Bad input stops the program with the message alone (RunError prints no traceback).
    """
    try:
        catalog, settings = load_inputs(catalog_path)
    except InputError as exc:
        raise pulumi.RunError(str(exc)) from None
    for key, value in build_stack(catalog, settings).items():
        pulumi.export(key, value)
