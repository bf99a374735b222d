"""The Pulumi program: what `pulumi up`/`preview` run, and what `render` runs under mocks."""

from __future__ import annotations

from pathlib import Path

import pulumi

from boutique.catalog import Catalog, load_catalog
from boutique.errors import InputError
from boutique.settings import Settings, load_settings
from boutique.stack import build_stack

PROJECT_DIR = Path(__file__).resolve().parent.parent
CATALOG_FILE = PROJECT_DIR / "services.yaml"


def load_inputs(catalog_path: Path = CATALOG_FILE) -> tuple[Catalog, Settings]:
    catalog = load_catalog(catalog_path)
    return catalog, load_settings(catalog)


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
