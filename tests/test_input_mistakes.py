"""Inputs that would break the shop are refused, and the messages say what is really wrong
(issue 16, items 5 to 9): derived env, plain-text webhook URLs, malformed tags, unknown call
targets, and every independent mistake of a file at once."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from boutique.inputs.catalog import load_catalog
from boutique.inputs.errors import CatalogError, InputError, SettingsError
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import CATALOG_FILE, PROJECT_DIR, settings_from_config

SHIPPED = yaml.safe_load(CATALOG_FILE.read_text())


def catalog_error(tmp_path: Path, edit: Any) -> str:
    data = copy.deepcopy(SHIPPED)
    edit(data)
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    return str(caught.value)


def serving(data: dict[str, Any]) -> list[str]:
    return [n for n, s in data["services"].items() if s.get("ports")]


# --- item 5: env may not redefine what the program derives ---


def test_env_redefining_port_is_refused_naming_where_port_comes_from(tmp_path):
    name = next(n for n in serving(SHIPPED) if SHIPPED["services"][n].get("portEnv", True))
    message = catalog_error(tmp_path, lambda d: d["services"][name].setdefault("env", {}).update(PORT="50052"))
    assert f"services.yaml: services.{name}.env.PORT: set by the program" in message
    assert f"services.{name}.ports.container" in message


def test_env_redefining_common_env_is_refused(tmp_path):
    key = next(iter(SHIPPED["commonEnv"]))
    name = serving(SHIPPED)[0]
    message = catalog_error(tmp_path, lambda d: d["services"][name].setdefault("env", {}).update({key: "x"}))
    assert f"services.{name}.env.{key}: set by the program" in message and f"commonEnv.{key}" in message


def test_env_redefining_a_stores_password_variable_is_refused(tmp_path):
    caller, var = next(
        (n, v) for n, s in SHIPPED["services"].items() for v, t in s.get("calls", {}).items() if t in SHIPPED["stores"]
    )
    password = var.removesuffix("_ADDR") + "_PASSWORD"
    message = catalog_error(tmp_path, lambda d: d["services"][caller].setdefault("env", {}).update({password: "x"}))
    assert f"services.{caller}.env.{password}: set by the program" in message and f"calls.{var}" in message


@pytest.mark.parametrize("variable", ["ENABLE_TRACING", "COLLECTOR_SERVICE_ADDR", "OTEL_SERVICE_NAME"])
def test_env_redefining_a_tracing_variable_is_refused(tmp_path, variable):
    name = serving(SHIPPED)[0]
    message = catalog_error(tmp_path, lambda d: d["services"][name].setdefault("env", {}).update({variable: "1"}))
    assert f"services.{name}.env.{variable}: set by the program" in message and "tracing" in message


def test_env_redefining_a_call_address_names_the_call(tmp_path):
    caller, var = next((n, v) for n, s in SHIPPED["services"].items() for v in s.get("calls", {}))
    message = catalog_error(tmp_path, lambda d: d["services"][caller].setdefault("env", {}).update({var: "x:1"}))
    assert f"services.{caller}.env.{var}: set by the program from services.{caller}.calls.{var}" in message


# --- item 6: a webhook URL in plain text is refused like registryAuth, never repeated ---

URL = "https://hooks.example.test/T000/very-secret-path"


def dev_config(**values: Any) -> dict[str, str]:
    config, _ = read_stack_config(PROJECT_DIR, "dev")
    config.update({f"boutique:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()})
    return config


def test_plain_text_webhook_url_is_refused_without_repeating_it(catalog):
    config = dev_config(alertReceivers={"oncall": {"webhookUrl": URL}})
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", config, catalog, secret_keys=())
    message = str(caught.value)
    assert message.startswith("Pulumi.dev.yaml: boutique:alertReceivers.oncall.webhookUrl: stored as plain text")
    assert "pulumi config set --secret --path boutique:alertReceivers.oncall.webhookUrl" in message
    assert URL not in message and "very-secret" not in message


def test_encrypted_webhook_url_is_accepted(catalog):
    config = dev_config(alertReceivers={"oncall": {"webhookUrl": URL}})
    settings = settings_from_config("dev", config, catalog, secret_keys=["boutique:alertReceivers"])
    assert set(settings.alert_receivers) == {"oncall"}


# --- item 7: a malformed tag is called malformed; "not pinned" stays for latest and empty ---


@pytest.mark.parametrize("tag", ["v0.10.7@beta", "v0.10.6 beta", "v" * 200, ".hidden", "caf\u00e9"])
def test_malformed_tag_is_called_malformed_with_the_grammar(tmp_path, tag):
    message = catalog_error(tmp_path, lambda d: d["images"].update(tag=tag))
    assert "services.yaml: images.tag: image tag" in message and "is malformed" in message
    assert "[A-Za-z0-9_][A-Za-z0-9._-]{0,127}" in message and "not pinned" not in message
    assert len(message) < 400  # a 200-character tag is not repeated whole


@pytest.mark.parametrize("tag", ["latest", ""])
def test_latest_and_empty_tags_are_not_pinned(tmp_path, tag):
    message = catalog_error(tmp_path, lambda d: d["images"].update(tag=tag))
    assert "images.tag: image tag" in message and "is not pinned" in message and "malformed" not in message


def test_malformed_stack_image_tag_is_called_malformed(catalog):
    with pytest.raises(SettingsError, match=r"boutique:imageTag: image tag 'v1@x' is malformed"):
        settings_from_config("dev", dev_config(imageTag="v1@x"), catalog)


# --- item 8: a call to an unknown service gets the nearest name and the valid targets ---


def test_unknown_call_target_gets_nearest_name_and_valid_targets(tmp_path):
    caller, var, target = next(
        (n, v, t) for n, s in SHIPPED["services"].items() for v, t in s.get("calls", {}).items()
        if t in SHIPPED["services"]
    )  # fmt: skip
    typo = target[:-4] + target[-3] + target[-4] + target[-2:]  # two letters swapped
    message = catalog_error(tmp_path, lambda d: d["services"][caller]["calls"].update({var: typo}))
    assert f"services.{caller}.calls.{var}: {typo!r} is not a service or store with a port" in message
    assert f"did you mean {target}?" in message
    valid = sorted(
        [n for n in serving(SHIPPED) if n != caller] + list(SHIPPED["stores"])
    )
    assert f"valid targets: {', '.join(valid)}" in message


# --- item 9: every independent mistake of a file at once ---


def test_every_independent_catalog_mistake_is_reported_at_once(tmp_path):
    names = serving(SHIPPED)
    first, second = names[0], names[1]

    def edit(d: dict[str, Any]) -> None:
        d["services"][first].setdefault("calls", {})["NOPE_ADDR"] = "nosuchservice"
        d["services"][second].setdefault("env", {})["PORT"] = "1"
        d["services"][second].setdefault("calls", {})["ALSO_ADDR"] = "othermissing"

    lines = catalog_error(tmp_path, edit).splitlines()
    assert any(f"services.{first}.calls.NOPE_ADDR:" in line for line in lines)
    assert any(f"services.{second}.calls.ALSO_ADDR:" in line for line in lines)
    if SHIPPED["services"][second].get("portEnv", True):
        assert any(f"services.{second}.env.PORT:" in line for line in lines)
    assert all(line.startswith("services.yaml: ") for line in lines)


def test_every_independent_stack_mistake_is_reported_at_once(catalog):
    config = dev_config(serviceReplicas={"nosuchservice": 2}, imageDigests={"otherservice": "sha256:" + "a" * 64})
    config["boutiqe:replicas"] = "2"  # a typo in the namespace
    config["boutique:replicas"] = "0"  # a field error
    with pytest.raises(InputError) as caught:
        settings_from_config("dev", config, catalog, secret_keys=())
    lines = str(caught.value).splitlines()
    assert any("boutiqe:replicas: unknown config namespace" in line for line in lines)
    assert any("boutique:replicas: must be at least 1" in line for line in lines)
    assert all(line.startswith("Pulumi.dev.yaml: ") for line in lines)


def test_every_independent_cross_check_mistake_is_reported_at_once(catalog):
    config = dev_config(
        serviceReplicas={"nosuchservice": 2},
        imageDigests={"otherservice": "sha256:" + "a" * 64},
        alertReceivers={"oncall": {"webhookUrl": URL}},
    )
    with pytest.raises(InputError) as caught:
        settings_from_config("dev", config, catalog, secret_keys=())
    message = str(caught.value)
    assert "boutique:serviceReplicas.nosuchservice: no such service" in message
    assert "boutique:imageDigests.otherservice: no such service" in message
    assert "boutique:alertReceivers.oncall.webhookUrl: stored as plain text" in message
    assert all(line.startswith("Pulumi.dev.yaml: ") for line in message.splitlines())
