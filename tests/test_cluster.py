"""Each stack names its cluster: one explicit Kubernetes provider for every Kubernetes resource, and a
real run (`pulumi preview`/`up`) stops before creating anything when the kubeconfig reaches another
cluster, or when the stack still holds a documentation placeholder."""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from boutique.cli.mockrun import Run, run_program
from boutique.inputs.cluster import ClusterSettings, check_cluster, kubeconfig_paths
from boutique.inputs.errors import SettingsError
from boutique.inputs.placeholders import check_no_placeholders, placeholder_in
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import PROJECT_DIR, run
from tests.conftest import documentation, run_stack

PROVIDER_TYPE = "pulumi:providers:kubernetes"


def kubeconfig(path, contexts: dict[str, str]) -> None:
    """A kubeconfig with one cluster per context: context name -> API server."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": f"c-{n}", "cluster": {"server": s}} for n, s in contexts.items()],
                "contexts": [{"name": n, "context": {"cluster": f"c-{n}", "user": "u"}} for n in contexts],
                "users": [{"name": "u", "user": {}}],
                "current-context": next(iter(contexts), ""),
            }
        )
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_kubernetes_resource_goes_through_the_stacks_own_provider(stack, dev, prod):
    result = (dev if stack == "dev" else prod).run
    (provider,) = result.of_type(PROVIDER_TYPE)
    config, _ = read_stack_config(PROJECT_DIR, stack)
    named = json.loads(config["boutique:cluster"])["context"]
    assert named and provider.inputs["context"] == named
    reference = f"{provider.urn}::{provider.name}-id"
    kubernetes = [r for r in result.resources if r.type.startswith("kubernetes:")]
    assert len(kubernetes) > 50
    # A custom resource registers with its provider; a remote component (yaml/v2:ConfigFile) with its map.
    stray = [r.urn for r in kubernetes if (r.provider if r.custom else r.providers.get("kubernetes")) != reference]
    assert not stray, f"on the default provider: {stray[:5]}"


def test_the_provider_records_no_kubeconfig_path_of_the_machine_it_ran_on(monkeypatch, tmp_path):
    """The deployer's, the previewer's and a laptop's kubeconfig files differ: none may become an
    input of the provider, or a preview right after an up shows it changing (found by make e2e)."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "ci-deployer-kubeconfig"))
    (provider,) = run_stack("dev").of_type(PROVIDER_TYPE)
    assert provider.inputs.get("kubeconfig", "") == ""


def test_a_resource_added_at_the_top_of_the_stack_gets_the_provider_too():
    """Whatever a later feature creates outside every component is covered, not only today's resources."""
    from pulumi_kubernetes.core import v1 as core

    from components.cluster_provider import cluster_provider, use_for_every_resource

    def program():
        use_for_every_resource(cluster_provider("cluster", "ctx"))
        core.ConfigMap("loose", metadata={"name": "loose"})
        pulumi.ComponentResource("test:index:Box", "box")

    result = run_program(program, "dev", {})
    (provider,) = result.of_type(PROVIDER_TYPE)
    assert result.named("kubernetes:core/v1:ConfigMap", "loose").provider == f"{provider.urn}::cluster-id"
    assert result.named("test:index:Box", "box").providers == {"kubernetes": f"{provider.urn}::cluster-id"}


def real_run(monkeypatch, tmp_path, stack, contexts: dict[str, str], overrides: dict[str, str], partial=None) -> Run:
    """The program as `pulumi preview` runs it (cluster checks on) against a kubeconfig of `contexts`."""
    path = tmp_path / "kubeconfig"
    kubeconfig(path, contexts)
    monkeypatch.setenv("KUBECONFIG", str(path))
    config, secret_keys = read_stack_config(PROJECT_DIR, stack)
    config.update(overrides)
    partial = Run() if partial is None else partial
    run_program(run, stack, config, secret_keys, run=partial, reach_cluster=True)
    return partial


def test_a_kubeconfig_pointed_at_another_cluster_is_refused_and_nothing_registered(monkeypatch, tmp_path):
    cluster = json.dumps({"context": "shop-dev", "server": "https://dev.k8s.internal:6443"})
    partial = Run()
    with pytest.raises(pulumi.RunError) as refused:
        elsewhere = {"shop-dev": "https://prod.k8s.internal:6443"}
        real_run(monkeypatch, tmp_path, "dev", elsewhere, {"boutique:cluster": cluster}, partial)
    message = str(refused.value)
    assert message.startswith("Pulumi.dev.yaml: boutique:cluster.server: ")
    assert "https://prod.k8s.internal:6443" in message and "Traceback" not in message
    assert partial.resources == []


def test_a_kubeconfig_without_the_stacks_context_is_refused(monkeypatch, tmp_path):
    refused = r"boutique:cluster\.context: .*no context 'boutique-dev' \(it has: kind-x\)"
    with pytest.raises(pulumi.RunError, match=refused):
        real_run(monkeypatch, tmp_path, "dev", {"kind-x": "https://127.0.0.1:6443"}, {})


def test_the_stacks_own_cluster_is_deployed_to(monkeypatch, tmp_path):
    """The same run with the stack's context in the kubeconfig goes ahead (here, under mocks)."""
    contexts = {"other": "https://x:1", "boutique-dev": "https://127.0.0.1:6443"}
    result = real_run(monkeypatch, tmp_path, "dev", contexts, {})
    assert result.of_type(PROVIDER_TYPE)[0].inputs["context"] == "boutique-dev"
    assert len(result.resources) > 50


def test_a_stack_that_names_no_context_is_refused_for_real_runs_only(monkeypatch, tmp_path):
    unnamed = {"boutique:cluster": json.dumps({"context": ""})}
    with pytest.raises(pulumi.RunError, match=r"Pulumi\.dev\.yaml: boutique:cluster\.context: not set"):
        real_run(monkeypatch, tmp_path, "dev", {"boutique-dev": "https://127.0.0.1:6443"}, unnamed)
    assert run_stack("dev", {"cluster": unnamed["boutique:cluster"]}).of_type(PROVIDER_TYPE)  # render: fine


def test_kubeconfig_lists_merge_as_kubectl_merges_them(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    kubeconfig(first, {"shop": "https://first:6443"})
    kubeconfig(second, {"shop": "https://second:6443", "other": "https://other:6443"})
    paths = kubeconfig_paths({"KUBECONFIG": f"{first}:{second}"})
    assert check_cluster("Pulumi.x.yaml", ClusterSettings(context="shop"), paths) == "https://first:6443"
    assert check_cluster("Pulumi.x.yaml", ClusterSettings(context="other"), paths) == "https://other:6443"
    assert kubeconfig_paths({})[0].name == "config"  # ~/.kube/config
    with pytest.raises(SettingsError, match="reaches https://first:6443, not this stack's cluster https://second"):
        check_cluster("Pulumi.x.yaml", ClusterSettings(context="shop", server="https://second:6443"), paths)


# --- documentation placeholders ---


def test_the_shipped_prod_stack_is_refused_by_a_real_preview_naming_the_key(monkeypatch, tmp_path):
    with pytest.raises(pulumi.RunError) as refused:
        real_run(monkeypatch, tmp_path, "prod", {}, {})
    assert "Pulumi.prod.yaml: boutique:" in str(refused.value) and "placeholder" in str(refused.value)
    config, _ = read_stack_config(PROJECT_DIR, "prod")
    with pytest.raises(SettingsError, match=r"boutique:gatewayHost: 'shop\.example\.com' is a placeholder"):
        check_no_placeholders("Pulumi.prod.yaml", {"boutique:gatewayHost": config["boutique:gatewayHost"]})
    with pytest.raises(SettingsError, match=r"boutique:secretStore\.roleArn: .*111122223333"):
        check_no_placeholders("Pulumi.prod.yaml", {"boutique:secretStore": config["boutique:secretStore"]})


def test_every_placeholder_the_readme_uses_is_refused():
    readme = documentation()
    for placeholder in ("111122223333", "shop.example.com", "hooks.example.com"):
        assert placeholder in readme, placeholder
        assert placeholder_in(f"x {placeholder}/y"), placeholder


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("shop.example.com", True),
        ("https://hooks.example.org/x", True),
        ("shop.internal.example", True),
        ("arn:aws:iam::123456789012:role/r", True),
        ("shop.test", False),  # RFC 6761: for testing, a laptop's cluster may use it
        ("boutique.localhost", False),
        ("myexample.com", False),
        ("arn:aws:iam::9111122223333:role/r", False),
        ("shop.acme.io", False),
    ],
)
def test_what_counts_as_a_placeholder(value, refused):
    assert bool(placeholder_in(value)) is refused


def test_a_secret_placeholder_is_named_but_never_shown():
    config = {"boutique:alertReceivers": json.dumps({"oncall": {"webhookUrl": "https://hooks.example.com/s3cr3t"}})}
    with pytest.raises(SettingsError) as refused:
        check_no_placeholders("Pulumi.dev.yaml", config, {"boutique:alertReceivers"})
    assert "boutique:alertReceivers.oncall.webhookUrl: (a secret)" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)
