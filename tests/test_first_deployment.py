"""The README's "First deployment to a real cluster" says what the program needs: its capacity
figures, prod's secrets and IAM subjects, what `pulumi up` reaches and the canary curl all follow
from what the program renders."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest

from boutique.cli.render import HELM_RELEASE, release
from boutique.inputs.model import cpu_cores, memory_bytes
from boutique.inputs.settings import Settings
from boutique.inputs.stackconfig import read_stack_config
from boutique.plans import versions, workloads
from boutique.program import PROJECT_DIR, settings_from_config
from tests.conftest import documentation
from tools import capacity

README = documentation()  # the README and the docs site's pages


def between(start: str, end: str) -> str:
    """The README's text between the marker comment starting with `start` and `end`."""
    begin = README.index(start)
    return README[README.index("\n", begin) + 1 : README.index(end, begin)]


def section(title: str) -> str:
    begin = README.index(f"\n## {title}\n")
    ends = [README.find(mark, begin + 1) for mark in ("\n## ", "\n# ")]  # the next section or page
    return README[begin : min(end for end in ends if end > 0)]


def test_readme_capacity_is_what_the_program_derives(dev, prod):
    expected = capacity.table({"dev": capacity.stack_rows(dev.run), "prod": capacity.stack_rows(prod.run)})
    assert between("<!-- capacity:", "<!-- end capacity -->") == expected, "run `make derived-docs` to rewrite it"


def test_capacity_write_replaces_only_the_table_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{capacity.BEGIN_MARKER} x -->\nold table\n{capacity.END_MARKER}\nrest\n")
    assert capacity.write_into(readme, "| new |\n") is True
    assert readme.read_text() == f"intro\n{capacity.BEGIN_MARKER} x -->\n| new |\n{capacity.END_MARKER}\nrest\n"
    assert capacity.write_into(readme, "| new |\n") is False  # already up to date
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no `<!-- capacity:"):
        capacity.write_into(readme, "| new |\n")


def _settings(stack: str, catalog) -> Settings:
    config, _ = read_stack_config(PROJECT_DIR, stack)
    return settings_from_config(stack, config, catalog)


def test_capacity_counts_the_workloads_and_volumes_the_stack_config_asks_for(dev, prod, catalog):
    settings = _settings("dev", catalog)
    (shop, *_) = capacity.stack_rows(dev.run)
    running = workloads.enabled_services(catalog, settings)
    assert shop.pods == str(sum(settings.replicas_of(s) for s in running) + len(catalog.stores))
    app_cpu = sum(settings.replicas_of(s) * cpu_cores(catalog.services[s].resources.requests.cpu) for s in running)
    stores_cpu = sum(cpu_cores(s.resources.requests.cpu) for s in catalog.stores.values())
    exporter = cpu_cores(workloads.REDIS_EXPORTER_RESOURCES.requests.cpu) * len(catalog.stores)  # monitoring on
    assert abs(shop.cpu - (app_cpu + stores_cpu + exporter)) < 1e-9

    settings = _settings("prod", catalog)
    rows = {r.what: r for r in capacity.stack_rows(prod.run)}
    elasticsearch = rows["Elasticsearch"]
    assert elasticsearch.pods == str(settings.elasticsearch_nodes)
    assert elasticsearch.cpu == settings.elasticsearch_nodes * cpu_cores(settings.elasticsearch_cpu)
    # A store the redis-operator runs has a claim per Redis pod; one of ours, one with redisPersistence.
    claims = {
        name: store.replication.replicas if settings.operated(store) else int(settings.redis_persistence)
        for name, store in catalog.stores.items()
    }
    assert any(settings.operated(s) for s in catalog.stores.values())  # prod's stores are replicated
    volumes = (
        sum(claims[name] * memory_bytes(s.storage) for name, s in catalog.stores.items())
        + memory_bytes(settings.prometheus_storage)
        + settings.elasticsearch_nodes * memory_bytes(settings.elasticsearch_storage)
    )
    total = next(r for r in rows.values() if r.what.startswith("**total**"))
    assert total.storage == volumes


def test_readme_lists_every_secret_prod_reads_and_who_reads_it(prod):
    read: dict[str, set[str]] = {}
    for external in prod.kind("ExternalSecret"):
        for item in external["spec"]["data"]:
            read.setdefault(item["remoteRef"]["key"], set()).add(item["remoteRef"]["property"])
    text = section("First deployment to a real cluster")
    listed = {
        key: {p.strip(" `") for p in props.split(",")}
        for key, props in re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", text, re.MULTILINE)
    }
    assert read and listed == read
    for key in read:
        assert f"--name {key} " in text, key  # and a command that creates it
    # The IRSA role: its name, and every SecretStore's ServiceAccount in its trust policy.
    for store in prod.kind("SecretStore"):
        account = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
        namespace = store["metadata"]["namespace"]
        assert f"system:serviceaccount:{namespace}:{account}" in text
        annotated = next(
            a
            for a in prod.kind("ServiceAccount")
            if (a["metadata"]["name"], a["metadata"]["namespace"]) == (account, namespace)
        )
        role = annotated["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].rsplit("/", 1)[1]
        assert f"--role-name {role} " in text


NUMBER_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def test_readme_counts_the_secrets_it_lists(prod):
    """Every "N secrets" in the section is the number of secrets prod reads (issue 16, item 19)."""
    keys = {item["remoteRef"]["key"] for e in prod.kind("ExternalSecret") for item in e["spec"]["data"]}
    text = section("First deployment to a real cluster")
    counts = re.findall(r"\b(\w+) secrets\b(?! provider)", text)  # "one secrets provider" is no count
    said = [NUMBER_WORDS.index(w.lower()) if w.lower() in NUMBER_WORDS else w for w in counts]
    assert [n for n in said if isinstance(n, int)], "the section says how many secrets prod needs"
    assert [n for n in said if isinstance(n, int)] == [len(keys)] * len([n for n in said if isinstance(n, int)])


def test_readme_lists_what_pulumi_up_must_reach(prod):
    reached = {release(r)["repository"] for r in prod.run.of_type(HELM_RELEASE)}
    reached |= {r.inputs["file"] for r in prod.run.of_type("kubernetes:yaml/v2:ConfigFile")}
    listed = set(re.findall(r"^- `(https://[^`]+)`", between("<!-- pulumi-up-reaches:", "<!-- end"), re.MULTILINE))
    assert listed == reached


def test_readme_canary_curl_trusts_the_gateway_certificate(prod):
    certificate = prod.kind("Certificate")[0]
    namespace, secret = certificate["metadata"]["namespace"], certificate["spec"]["secretName"]
    (host,) = certificate["spec"]["dnsNames"]
    text = section("Canary releases")
    assert f"kubectl -n {namespace} get secret {secret} -o jsonpath='{{.data.ca\\.crt}}'" in text
    commands = [line for line in text.splitlines() if line.startswith("curl ")]
    assert commands
    for line in commands:  # the certificate is self-signed: trusted on purpose, or curl fails
        assert "--cacert shop-ca.crt" in line and f'--resolve "{host}:443:$ADDRESS"' in line, line
    # The address the curl uses is the one the stack output reads.
    gateway_command = prod.run.outputs["gatewayAddress"].split(": ", 1)[1]
    assert gateway_command.replace("[*]", "[0]") in text
    assert gateway_command in section("The mesh and the way in")


def test_readme_states_the_kubernetes_floor_and_ceiling_make_validates_against():
    """One list (versions.KUBERNETES_SUPPORT) says where the operators run; the README states its
    ends, `make validate` checks the renders at both, and Pod Security's pin is not above the floor."""
    floor, ceiling = versions.KUBERNETES_FLOOR, versions.KUBERNETES_CEILING
    assert versions.minor_version(floor) <= versions.minor_version(ceiling)
    for low, high in versions.KUBERNETES_SUPPORT.values():
        assert versions.minor_version(low) <= versions.minor_version(floor)
        assert versions.minor_version(ceiling) <= versions.minor_version(high)
    text = section("First deployment to a real cluster")
    assert f"**Kubernetes {floor} to {ceiling}**" in text
    for operator, (low, high) in versions.KUBERNETES_SUPPORT.items():
        assert f"{operator}: {low} to\n  {high}" in text or f"{operator}: {low} to {high}" in text, operator
    assert f"against the {floor} and {ceiling} schemas" in text
    makefile = (PROJECT_DIR / "Makefile").read_text()
    listed = re.search(r"^K8S_VERSIONS := (.*)$", makefile, re.MULTILINE).group(1).split()
    assert listed == [f"{floor}.0", f"{ceiling}.0"]
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    assert all((schemas / f"v{v}-local-strict").is_dir() for v in listed), "kubernetes-validate lacks a schema"
    pinned = Settings().pod_security_version
    assert versions.minor_version(pinned) <= versions.minor_version(floor)
    assert f"`podSecurityVersion` ({pinned})" in text


def test_readme_states_the_minimum_pulumi_cli_the_program_asks_the_engine_for(dev):
    assert dev.run.required_pulumi == [f">={versions.PULUMI_CLI_MINIMUM}"]
    # The CLI is at least the SDK the program is locked to (a re-lock that moves pulumi fails here).
    lock = (PROJECT_DIR / "requirements.txt").read_text()
    assert re.search(rf"^pulumi=={re.escape(versions.PULUMI_CLI_MINIMUM)} ", lock, re.MULTILINE)
    assert f"Pulumi CLI **{versions.PULUMI_CLI_MINIMUM} or later**" in README


def test_capacity_counts_istiod_where_the_stack_installs_it(prod, dev):
    """istiod runs at least `autoscaleMin` replicas of its requests: in the total (issue 16, item 18)."""
    for objects in (prod, dev):
        releases = [release(r) for r in objects.run.of_type(HELM_RELEASE)]
        istiod = [r for r in releases if r["chart"] == "istiod"]
        rows = {row.what: row for row in capacity.stack_rows(objects.run)}
        if not istiod:
            assert "istiod" not in rows
            continue
        values = istiod[0]["values"]
        replicas, requests = values["autoscaleMin"], values["resources"]["requests"]
        row = rows["istiod"]
        assert row.counted and row.pods == str(replicas)
        assert row.cpu == pytest.approx(replicas * cpu_cores(requests["cpu"]))
        assert row.memory == pytest.approx(replicas * memory_bytes(requests["memory"]))
