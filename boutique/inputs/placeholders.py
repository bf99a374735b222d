"""Documentation placeholders (AWS's example accounts, reserved example domains) are never deployed.

The shipped prod stack holds such values (account 111122223333, shop.example.com) so that it
renders and tests offline; `pulumi preview` and `pulumi up` refuse them, naming the key. Names
reserved for testing and for this machine (`*.test`, `*.localhost`, RFC 6761) are allowed: a
laptop's trial cluster may use them on purpose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from boutique.inputs.errors import SettingsError

# The account IDs AWS's own documentation uses.
AWS_EXAMPLE_ACCOUNTS = ("111122223333", "123456789012", "444455556666")
# RFC 2606: example.com/.net/.org and the .example and .invalid top-level domains.
EXAMPLE_DOMAIN = re.compile(r"(?<![\w-])(?:[\w-]+\.)*(?:example\.(?:com|net|org)|[\w-]+\.(?:example|invalid))\b", re.I)


def _strings(path: str, value: Any) -> Iterator[tuple[str, str]]:
    """Every string inside a config value, with its dotted path (`secretStore.roleArn`)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _strings(f"{path}.{key}", inner)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(f"{path}[{index}]", inner)
    elif isinstance(value, str):
        yield path, value


def placeholder_in(text: str) -> str | None:
    """What in `text` is a documentation placeholder, in words; None when nothing is."""
    for account in AWS_EXAMPLE_ACCOUNTS:
        if re.search(rf"(?<!\d){account}(?!\d)", text):
            return f"AWS's documentation account {account}"
    match = EXAMPLE_DOMAIN.search(text)
    return f"the reserved example domain {match.group(0)}" if match else None


def check_no_placeholders(file_name: str, config: Mapping[str, Any], secret_keys: Collection[str] = ()) -> None:
    """SettingsError naming the first `boutique:` key whose value is a documentation placeholder."""
    for key in sorted(config):
        if not key.startswith("boutique:"):
            continue
        raw = config[key]
        try:
            value = json.loads(raw) if isinstance(raw, str) and raw[:1] in "[{" else raw
        except json.JSONDecodeError:
            value = raw
        for path, text in _strings(key, value):
            found = placeholder_in(text)
            if found:
                shown = "(a secret)" if key in secret_keys else repr(text)
                raise SettingsError(
                    f"{file_name}: {path}: {shown} is a placeholder ({found}): put your own value there "
                    "before `pulumi preview` or `pulumi up` (render and the tests accept it)"
                )
