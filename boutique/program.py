"""The Pulumi program: what `pulumi up`/`preview` run, and what `render` runs under mocks.

The top of the program: it reads the inputs, checks them together, and hands them to the plans.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.config import get_config_secret_keys_env, is_config_secret

from boutique.inputs.catalog import CATALOG_FILE, Catalog, load_catalog
from boutique.inputs.cluster import check_cluster, kubeconfig_paths
from boutique.inputs.errors import InputError
from boutique.inputs.placeholders import check_no_placeholders
from boutique.inputs.settings import Settings, parse_settings, read_config
from boutique.plans.checks import check_inputs
from boutique.plans.stack import build_stack
from boutique.plans.versions import PULUMI_CLI_MINIMUM

PROJECT_DIR = Path(__file__).resolve().parent.parent

# True while the program runs offline (under Pulumi's mocks: render, the tests): there is no
# cluster to check, and placeholders are fine. `pulumi preview`/`up` never set it.
_OFFLINE: ContextVar[bool] = ContextVar("offline", default=False)


@contextmanager
def offline() -> Iterator[None]:
    """Run the program with no cluster behind it: the mocks runner says so explicitly."""
    token = _OFFLINE.set(True)
    try:
        yield
    finally:
        _OFFLINE.reset(token)


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
    stack = pulumi.get_stack()
    settings = settings_from_config(stack, config, catalog, secret_keys)
    if not _OFFLINE.get():
        # A real preview or deploy: never a documentation placeholder, never another cluster.
        check_no_placeholders(f"Pulumi.{stack}.yaml", config, secret_keys)
        check_cluster(f"Pulumi.{stack}.yaml", settings.cluster, kubeconfig_paths())
    return catalog, settings


def run(catalog_path: Path = CATALOG_FILE) -> None:
    """Validate the inputs, build the stack and export its outputs.

    Bad input stops the program with the message alone (RunError prints no traceback).
    """
    # An older CLI stops here, plainly (under mocks there is no engine to ask).
    pulumi.require_pulumi_version(f">={PULUMI_CLI_MINIMUM}")
    try:
        catalog, settings = load_inputs(catalog_path)
    except InputError as exc:
        raise pulumi.RunError(str(exc)) from None
    for key, value in build_stack(catalog, settings).items():
        pulumi.export(key, value)
