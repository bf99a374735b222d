"""Every pinned chart and application version of the platform, in one place.

Each was looked up in its upstream repository (chart, tag or release), not guessed. Upgrading one
is a one-line change here; the tests check every Release is pinned to a version from this module
and installed from its project's official repository.
"""

from __future__ import annotations

from components.helm import ChartRef

# Istio: one version for its charts (base, cni, istiod). No `gateway` chart: the shop enters through
# a Gateway API Gateway, whose pods istiod deploys itself.
ISTIO_VERSION = "1.30.3"
ISTIO_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"

ISTIO_BASE = ChartRef(
    "base",
    ISTIO_REPOSITORY,
    ISTIO_VERSION,
    crd_groups=("networking.istio.io", "security.istio.io", "telemetry.istio.io", "extensions.istio.io"),
)
ISTIOD = ChartRef("istiod", ISTIO_REPOSITORY, ISTIO_VERSION)
# The node agent that redirects pods' traffic, so sidecars need no NET_ADMIN init container.
ISTIO_CNI = ChartRef("cni", ISTIO_REPOSITORY, ISTIO_VERSION)

CERT_MANAGER = ChartRef(
    "cert-manager", "https://charts.jetstack.io", "v1.21.1", crd_groups=("cert-manager.io", "acme.cert-manager.io")
)
EXTERNAL_SECRETS = ChartRef(
    "external-secrets",
    "https://charts.external-secrets.io",
    "2.9.0",
    crd_groups=("external-secrets.io", "generators.external-secrets.io"),
)
KUBE_PROMETHEUS_STACK = ChartRef(
    "kube-prometheus-stack",
    "https://prometheus-community.github.io/helm-charts",
    "88.5.3",
    crd_groups=("monitoring.coreos.com",),
)
ECK_OPERATOR = ChartRef(
    "eck-operator",
    "https://helm.elastic.co",
    "3.5.0",
    crd_groups=("elasticsearch.k8s.elastic.co", "kibana.k8s.elastic.co"),
)
FLUENTD = ChartRef("fluentd", "https://fluent.github.io/helm-charts", "0.6.0")
# Serves the request-rate metric the autoscalers read (adapter v0.12.0); the newest chart.
PROMETHEUS_ADAPTER = ChartRef("prometheus-adapter", "https://prometheus-community.github.io/helm-charts", "5.3.0")
# SIG Autoscaling's own chart (VPA 1.7.1), the newest; brings the VerticalPodAutoscaler CRD.
VERTICAL_POD_AUTOSCALER = ChartRef(
    "vertical-pod-autoscaler", "https://kubernetes.github.io/autoscaler", "0.11.0", crd_groups=("autoscaling.k8s.io",)
)
# Falco (a DaemonSet) with Falcosidekick (its subchart, 0.12.1); images pinned at the end.
FALCO = ChartRef("falco", "https://falcosecurity.github.io/charts", "9.1.0")
# Tracing: the collector chart (its appVersion is the collector 0.158.0) and Jaeger v2's chart
# (appVersion 2.19.0; the jaeger-operator is v1 only and deprecated).
OTEL_COLLECTOR = ChartRef(
    "opentelemetry-collector", "https://open-telemetry.github.io/opentelemetry-helm-charts", "0.170.0"
)
JAEGER = ChartRef("jaeger", "https://jaegertracing.github.io/helm-charts", "4.11.1")

# OT-Container-Kit's redis-operator (operator 0.26.0, chart 0.26.1, the newest): runs the cart store
# as a RedisReplication with Sentinels where a stack lists it.
REDIS_OPERATOR = ChartRef(
    "redis-operator",
    "https://ot-container-kit.github.io/helm-charts",
    "0.26.1",
    crd_groups=("redis.redis.opstreelabs.in",),
)
REDIS_OPERATOR_IMAGE_TAG = "v0.26.0"  # the chart's appVersion, pinned rather than derived

CHARTS = (
    ISTIO_BASE,
    ISTIOD,
    ISTIO_CNI,
    CERT_MANAGER,
    EXTERNAL_SECRETS,
    KUBE_PROMETHEUS_STACK,
    ECK_OPERATOR,
    FLUENTD,
    PROMETHEUS_ADAPTER,
    VERTICAL_POD_AUTOSCALER,
    FALCO,
    OTEL_COLLECTOR,
    JAEGER,
    REDIS_OPERATOR,
)

# Gateway API CRDs, standard channel: upstream publishes them as a release manifest, not a chart.
# v1.5.1 is the version Istio 1.30.3 is built and tested against (its go.mod).
GATEWAY_API_VERSION = "v1.5.1"
GATEWAY_API_CRDS = (
    f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
)
GATEWAY_API_GROUP = "gateway.networking.k8s.io"

# Elasticsearch and Kibana (run by ECK 3.5.0, which tests this 8.19 release). 8.x because the
# Fluentd image ships the Elasticsearch 8 client.
ELASTIC_STACK_VERSION = "8.19.18"

# Fluentd's image with fluent-plugin-elasticsearch 5.4 (data streams with ILM) and the Kubernetes
# metadata filter; the tag the fluentd 0.6.0 chart builds for its elasticsearch8 variant.
FLUENTD_IMAGE_REPOSITORY = "docker.io/fluent/fluentd-kubernetes-daemonset"
FLUENTD_IMAGE_TAG = "v1.19.3-debian-elasticsearch8-1.1"

# The backup job's uploader: AWS's own CLI image (Docker Hub, `amazon`), which also has a shell and
# GNU date for pruning old snapshots; the snapshot itself is taken with the store's own image's redis-cli.
REDIS_BACKUP_UPLOADER_IMAGE = "docker.io/amazon/aws-cli:2.27.50"

# Exports Redis's INFO as Prometheus metrics; Redis itself has no /metrics.
REDIS_EXPORTER_IMAGE = "quay.io/oliver006/redis_exporter:v1.88.0"

# --- supply chain and runtime security: Falco ---
# The falco chart's images, pinned here rather than left to the chart: Falco 0.44.1 (the chart's
# appVersion; its image bundles the falco-rules 5.1.0 ruleset and the container plugin 0.7.1, so
# nothing is downloaded at run time) and Falcosidekick 2.32.0 (the subchart's default).
FALCO_IMAGE_REGISTRY = "docker.io"
FALCO_IMAGE_REPOSITORY = "falcosecurity/falco"
FALCO_IMAGE_TAG = "0.44.1"
FALCOSIDEKICK_IMAGE_REPOSITORY = "falcosecurity/falcosidekick"
FALCOSIDEKICK_IMAGE_TAG = "2.32.0"
# The collector's "k8s" distribution (OTLP receiver, memory limiter, batch, tail sampling, the
# load-balancing and OTLP exporters, health check), the version the 0.170.0 chart ships.
OTEL_COLLECTOR_IMAGE_REPOSITORY = "docker.io/otel/opentelemetry-collector-k8s"
OTEL_COLLECTOR_IMAGE_TAG = "0.158.0"
# Jaeger v2 and its Elasticsearch index cleaner, both at the chart's appVersion (the chart takes
# registry and repository apart).
JAEGER_IMAGE_REGISTRY = "docker.io"
JAEGER_IMAGE_REPOSITORY = "jaegertracing/jaeger"
JAEGER_INDEX_CLEANER_IMAGE_REPOSITORY = "jaegertracing/jaeger-es-index-cleaner"
JAEGER_IMAGE_TAG = "2.19.0"

# --- what the pinned versions support: stated in the README, validated by `make validate` ---
# Kubernetes minor versions each pinned operator supports, from its own support matrix: Istio's
# supported releases (1.30: 1.32-1.36) and cert-manager's (1.21: 1.33-1.36). The stacks run where all
# of them are supported: the highest floor, the lowest ceiling. The Makefile's K8S_VERSIONS validates
# the renders at both ends; a test keeps them, the README and podSecurityVersion in step.
KUBERNETES_SUPPORT = {
    f"Istio {ISTIO_VERSION}": ("1.32", "1.36"),
    f"cert-manager {CERT_MANAGER.version}": ("1.33", "1.36"),
}


def minor_version(version: str) -> tuple[int, int]:
    """`1.33` (or `v1.33`, `1.33.0`) as (1, 33), for comparing Kubernetes minor versions."""
    major, minor = version.removeprefix("v").split(".")[:2]
    return int(major), int(minor)


KUBERNETES_FLOOR = max((low for low, _ in KUBERNETES_SUPPORT.values()), key=minor_version)
KUBERNETES_CEILING = min((high for _, high in KUBERNETES_SUPPORT.values()), key=minor_version)

# The oldest Pulumi CLI the program runs under: the Python SDK it is locked to (requirements.txt). The
# CLI and the SDK are released together; a CLI older than its SDK may lack what the SDK asks of it.
# The program asks the engine for it (pulumi.require_pulumi_version), so an older CLI stops at once.
PULUMI_CLI_MINIMUM = "3.272.0"
