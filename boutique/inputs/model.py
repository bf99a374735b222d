"""Shared pydantic base and Kubernetes quantity helpers for the catalog and settings."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

from boutique.inputs.errors import described

QUANTITY = described(
    r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$",
    "a Kubernetes quantity: a number with an optional unit (m, k, M, G, T, Ki, Mi, Gi, Ti), e.g. 100m, 64Mi, 2",
)
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY)]

_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


class StrictModel(BaseModel):
    """camelCase keys in files, snake_case in code, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, use_attribute_docstrings=True
    )


def _split(quantity: str) -> tuple[float, str]:
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", quantity)
    if not match:
        raise ValueError(f"not a quantity: {quantity!r}")
    return float(match.group(1)), match.group(2)


def cpu_cores(quantity: str) -> float:
    number, unit = _split(quantity)
    return number / 1000 if unit == "m" else number * _UNITS[unit]


def memory_bytes(quantity: str) -> float:
    number, unit = _split(quantity)
    return number / 1000 if unit == "m" else number * _UNITS[unit]
