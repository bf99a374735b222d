"""Stack config: defaults agree with Pulumi.yaml, and bad values name the file and the key."""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel

from boutique.inputs.errors import SettingsError
from boutique.inputs.settings import NODEPORT_REFUSED, Settings, config_key, parse_settings
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import PROJECT_DIR, settings_from_config


def test_pulumi_yaml_declares_every_key_with_the_models_default():
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    model_keys = {config_key(name): field for name, field in Settings.model_fields.items()}
    assert set(declared) == set(model_keys)
    for key, field in model_keys.items():
        assert declared[key]["description"], key
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):  # a section of its own (boutique:tracing): its keys as written
            default = default.model_dump(by_alias=True)
        assert declared[key]["default"] == default, key


def settings(catalog, **values):
    return settings_from_config("prod", {f"boutique:{k}": v for k, v in values.items()}, catalog)


def refused(catalog, **values) -> str:
    with pytest.raises(SettingsError) as caught:
        settings(catalog, **values)
    return str(caught.value)


def test_engine_strings_are_decoded(catalog):
    s = settings(catalog, replicas="2", autoscaling="true", serviceReplicas='{"frontend": 3}')
    assert s.replicas == 2 and s.autoscaling is True
    assert s.replicas_of("frontend") == 3 and s.replicas_of("adservice") == 2


def test_nodeport_is_refused_with_the_reason(catalog):
    message = refused(catalog, frontendExposure="NodePort")
    assert message.startswith("Pulumi.prod.yaml: boutique:frontendExposure: ")
    assert NODEPORT_REFUSED in message


def test_unknown_key_is_refused_with_the_nearest_and_the_known_ones(catalog):
    message = refused(catalog, replica="2")
    assert message.startswith("Pulumi.prod.yaml: boutique:replica: unknown key; did you mean boutique:replicas? ")
    known = message.split("known keys here: ", 1)[1].split(", ")
    assert known == [config_key(name) for name in Settings.model_fields]


def test_replicas_for_unknown_service_are_refused(catalog):
    message = refused(catalog, serviceReplicas='{"fronted": 3}')
    assert message.startswith("Pulumi.prod.yaml: boutique:serviceReplicas.fronted: no such service")


def test_latest_tag_override_is_refused(catalog):
    assert "boutique:imageTag: image tag 'latest' is not pinned" in refused(catalog, imageTag="latest")


def test_bad_namespace_is_refused(catalog):
    message = refused(catalog, namespace="Shop_1")
    assert message == (
        "Pulumi.prod.yaml: boutique:namespace: 'Shop_1' is not a DNS-1123 label: lowercase letters, digits and '-', "
        "at most 63 characters, beginning and ending with a letter or digit"
    )


def test_autoscaling_max_below_replicas_is_refused(catalog):
    message = refused(catalog, autoscaling="true", replicas="4", autoscalingMaxReplicas="3")
    assert message == "Pulumi.prod.yaml: boutique:autoscalingMaxReplicas: 3 is below the replicas asked for (4)"


def test_the_providers_and_pulumis_namespaces_are_left_to_them(catalog):
    config = {"kubernetes:context": "kind", "pulumi:disable-default-providers": '["*"]', "random:x": "y"}
    assert settings_from_config("dev", config, catalog) == Settings()


@pytest.mark.parametrize(
    "key, says",
    [
        ("boutiqe:replicas", "unknown config namespace 'boutiqe' (did you mean boutique:replicas?)"),
        ("boutiqe:replica", "unknown config namespace 'boutiqe' (did you mean boutique:replicas?)"),
        ("kubernets:context", "unknown config namespace 'kubernets' (did you mean kubernetes:context?)"),
        ("aws:region", "unknown config namespace 'aws'; this program reads boutique:, kubernetes:"),
        ("replicas", "not a config key (`<namespace>:<key>`) (did you mean boutique:replicas?)"),
    ],
)
def test_a_key_in_an_unknown_namespace_is_refused_with_the_nearest(catalog, key, says):
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", {key: "2"}, catalog)
    assert str(caught.value).startswith(f"Pulumi.dev.yaml: {key}: {says}"), caught.value


def test_a_prefix_typo_in_the_stack_file_is_refused(tmp_path):
    """What the issue met: `boutiqe:replicas: 2` in Pulumi.<stack>.yaml was ignored without a word."""
    scratch = tmp_path / "project"
    scratch.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (scratch / name).write_text((PROJECT_DIR / name).read_text())
    with (scratch / "Pulumi.dev.yaml").open("a") as extra:
        extra.write("  boutiqe:replicas: 2\n")
    config, _ = read_stack_config(scratch, "dev")
    with pytest.raises(
        SettingsError, match=r"^Pulumi\.dev\.yaml: boutiqe:replicas: .*did you mean boutique:replicas\?"
    ):
        parse_settings("dev", config)
