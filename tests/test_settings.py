"""Stack config: defaults agree with Pulumi.yaml, and bad values name the file and the key."""

from __future__ import annotations

import pytest
import yaml

from boutique.inputs.errors import SettingsError
from boutique.inputs.settings import NODEPORT_REFUSED, Settings, config_key
from boutique.program import PROJECT_DIR, settings_from_config


def test_pulumi_yaml_declares_every_key_with_the_models_default():
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    model_keys = {config_key(name): field for name, field in Settings.model_fields.items()}
    assert set(declared) == set(model_keys)
    for key, field in model_keys.items():
        assert declared[key]["description"], key
        assert declared[key]["default"] == field.get_default(call_default_factory=True), key


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


def test_unknown_key_is_refused(catalog):
    assert "Pulumi.prod.yaml: boutique:replica: Extra inputs are not permitted" in refused(catalog, replica="2")


def test_replicas_for_unknown_service_are_refused(catalog):
    message = refused(catalog, serviceReplicas='{"fronted": 3}')
    assert message.startswith("Pulumi.prod.yaml: boutique:serviceReplicas.fronted: no such service")


def test_latest_tag_override_is_refused(catalog):
    assert "boutique:imageTag: image tag 'latest' is not pinned" in refused(catalog, imageTag="latest")


def test_bad_namespace_is_refused(catalog):
    assert "boutique:namespace: String should match pattern" in refused(catalog, namespace="Shop_1")


def test_autoscaling_max_below_replicas_is_refused(catalog):
    message = refused(catalog, autoscaling="true", replicas="4", autoscalingMaxReplicas="3")
    assert "autoscalingMaxReplicas (3) is below the replicas asked for (4)" in message


def test_other_namespaces_are_ignored(catalog):
    assert settings_from_config("dev", {"kubernetes:context": "kind"}, catalog) == Settings()
