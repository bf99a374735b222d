"""LogPipeline: Elasticsearch and Kibana run by ECK, and Fluentd on every node shipping every
container's log to Elasticsearch with Kubernetes metadata, an on-disk buffer and retries.

Fluentd authenticates with the credentials ECK generates and trusts ECK's CA, both by Secret
reference: no password or certificate ever passes through this program. Retention is an index
lifecycle policy that Fluentd puts on the data stream it writes.
(Named log_pipeline, not logging, so it never shadows the standard library's `logging`.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.crds import CrdOwners
from components.helm import ChartRef, release
from components.kube import create_namespace, memory_bound_resources, name_of, object_meta, ownership_labels
from components.service_monitor import service_monitor

ELASTICSEARCH_API = "elasticsearch.k8s.elastic.co/v1"
KIBANA_API = "kibana.k8s.elastic.co/v1"
ELASTICSEARCH = "elasticsearch"
KIBANA = "kibana"
# Names ECK derives from the Elasticsearch/Kibana names (its conventions, documented upstream).
ES_SERVICE = f"{ELASTICSEARCH}-es-http"
ES_USER_SECRET = f"{ELASTICSEARCH}-es-elastic-user"
ES_CA_SECRET = f"{ELASTICSEARCH}-es-http-certs-public"  # `ca.crt`
KIBANA_SERVICE = f"{KIBANA}-kb-http"
ES_USER = "elastic"
ES_HTTP_PORT = 9200
ES_POD_LABELS = {"elasticsearch.k8s.elastic.co/cluster-name": ELASTICSEARCH}  # how ECK labels its pods
DATA_STREAM = "kubernetes-logs"  # outside the built-in `logs-*-*` template, so our lifecycle policy applies
CA_DIR = "/etc/fluent/es-ca"
FLUENTD_RELEASE = "fluentd"
# Fluentd's Prometheus endpoint (our config) and the name of its port on the chart's Service.
METRICS_PORT = 24231
METRICS_PATH = "/metrics"
METRICS_PORT_NAME = "metrics"
BUFFER_DIR = "/var/log/fluentd-buffers"  # on the node's /var/log (hostPath): survives pod restarts


@dataclass(frozen=True)
class ElasticsearchSize:
    nodes: int
    storage: str
    cpu: str
    memory: str


@dataclass(frozen=True)
class FluentdImage:
    repository: str
    tag: str


@dataclass(frozen=True)
class LogPipelineArgs:
    namespace: str
    part_of: str
    stack_version: str  # Elasticsearch and Kibana
    elasticsearch: ElasticsearchSize
    retention_days: int
    fluentd_image: FluentdImage
    fluentd_chart: ChartRef | None = None  # None: the cluster runs its own shipper
    scrape_fluentd: bool = False  # a ServiceMonitor for Fluentd's buffer and output metrics
    # Secrets (in `namespace`, made elsewhere) of more Elasticsearch users: ECK reads each as a file
    # realm user (username, password, roles) and for role definitions (roles.yml).
    user_secrets: Sequence[str] = ()


def directive(name: str, arg: str = "", params: Mapping[str, object] | None = None, *children: str) -> str:
    """One Fluentd config section: `<name arg>`, its parameters, nested sections, `</name>`."""
    head = f"<{name} {arg}>" if arg else f"<{name}>"
    body = [f"{key} {value}" for key, value in (params or {}).items()]
    for child in children:
        body.extend(child.splitlines())
    return "\n".join([head, *(f"  {line}" for line in body), f"</{name}>"])


def lifecycle_policy(retention_days: int) -> dict[str, object]:
    """Roll the data stream's backing index daily (or at 50 GB per shard), delete after retention."""
    return {
        "policy": {
            "phases": {
                "hot": {"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}},
                "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
            }
        }
    }


def fluentd_config(namespace: str, retention_days: int) -> dict[str, str]:
    """The four files the fluentd chart includes (same keys, so none of its defaults survive)."""
    sources = "\n\n".join(
        [
            directive(
                "source",
                "",
                {
                    "@type": "tail",
                    "@id": "in_tail_container_logs",
                    "@label": "@KUBERNETES",
                    "path": "/var/log/containers/*.log",
                    "pos_file": "/var/log/fluentd-containers.log.pos",
                    "tag": "kubernetes.*",
                    "read_from_head": "true",
                },
                directive("parse", "", {"@type": "cri"}),  # containerd / CRI-O log lines
            ),
            # The chart's probes and the ServiceMonitor read this endpoint.
            directive(
                "source",
                "",
                # Inside the pod: the kubelet's probes and Prometheus reach it on the pod IP.
                {"@type": "prometheus", "bind": "0.0.0.0", "port": METRICS_PORT, "metrics_path": METRICS_PATH},  # noqa: S104
            ),
            directive("source", "", {"@type": "prometheus_output_monitor"}),
        ]
    )
    filters = directive(
        "label",
        "@KUBERNETES",
        None,
        # Fluentd's own logs go nowhere (fluent.conf drops @FLUENT_LOG): shipping them would loop.
        directive("match", "kubernetes.var.log.containers.fluentd**", {"@type": "relabel", "@label": "@FLUENT_LOG"}),
        directive(
            "filter",
            "kubernetes.**",
            {
                "@type": "kubernetes_metadata",
                "@id": "filter_kube_metadata",
                "skip_labels": "false",
                "skip_container_metadata": "false",
                "skip_namespace_metadata": "true",
                "skip_master_url": "true",
            },
        ),
        directive("match", "**", {"@type": "relabel", "@label": "@DISPATCH"}),
    )
    dispatch = directive(
        "label",
        "@DISPATCH",
        None,
        directive("match", "**", {"@type": "relabel", "@label": "@OUTPUT"}),
    )
    buffer = directive(
        "buffer",
        "",
        {
            "@type": "file",
            "path": f"{BUFFER_DIR}/elasticsearch",
            "flush_mode": "interval",
            "flush_interval": "5s",
            "flush_thread_count": 2,
            "chunk_limit_size": "8MB",
            "total_limit_size": "2GB",
            "overflow_action": "block",
            "retry_type": "exponential_backoff",
            "retry_wait": "1s",
            "retry_max_interval": "60s",
            "retry_timeout": "24h",
        },
    )
    outputs = directive(
        "label",
        "@OUTPUT",
        None,
        directive(
            "match",
            "**",
            {
                "@type": "elasticsearch_data_stream",
                "@id": "out_elasticsearch",
                "data_stream_name": DATA_STREAM,
                "data_stream_template_name": DATA_STREAM,
                "data_stream_ilm_name": f"{DATA_STREAM}-retention",
                "data_stream_ilm_policy": json.dumps(lifecycle_policy(retention_days), separators=(",", ":")),
                "data_stream_ilm_policy_overwrite": "true",  # a changed retention reaches Elasticsearch
                "host": f"{ES_SERVICE}.{namespace}.svc",
                "port": ES_HTTP_PORT,
                "scheme": "https",
                "ssl_verify": "true",
                "ca_file": f"{CA_DIR}/ca.crt",
                "user": ES_USER,
                "password": "\"#{ENV['ES_PASSWORD']}\"",  # from the Secret, read at start
                "reconnect_on_error": "true",
                "reload_on_failure": "true",
                "request_timeout": "30s",
            },
            buffer,
        ),
    )
    return {
        "01_sources.conf": sources,
        "02_filters.conf": filters,
        "03_dispatch.conf": dispatch,
        "04_outputs.conf": outputs,
    }


class LogPipeline(pulumi.ComponentResource):
    """Elasticsearch + Kibana (ECK custom resources) and Fluentd (a DaemonSet from its chart).

    Outputs: `kibana` (how to reach it), `elasticsearch` (its in-cluster URL).
    """

    def __init__(
        self, name: str, args: LogPipelineArgs, crds: CrdOwners, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("boutique:index:LogPipeline", name, None, opts)
        labels = ownership_labels(args.part_of)
        namespace = create_namespace(f"{name}-namespace", args.namespace, labels, parent=self)
        ns_name = name_of(namespace)
        self.namespace_name = ns_name  # other components' objects there wait for it
        size = args.elasticsearch
        auth = (
            {
                "auth": {
                    "fileRealm": [{"secretName": s} for s in args.user_secrets],
                    "roles": [{"secretName": s} for s in args.user_secrets],
                }
            }
            if args.user_secrets
            else {}
        )

        self.elasticsearch = CustomResource(
            f"{name}-elasticsearch",
            api_version=ELASTICSEARCH_API,
            kind="Elasticsearch",
            metadata=object_meta(ELASTICSEARCH, ns_name, labels),
            spec={
                "version": args.stack_version,
                **auth,
                "nodeSets": [
                    {
                        "name": "default",
                        "count": size.nodes,
                        # No mmap: no privileged sysctl init container to raise vm.max_map_count.
                        "config": {"node.store.allow_mmap": False},
                        "podTemplate": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "elasticsearch",
                                        "resources": memory_bound_resources(size.cpu, size.memory),
                                    }
                                ]
                            }
                        },
                        "volumeClaimTemplates": [
                            {
                                "metadata": {"name": "elasticsearch-data"},  # the name ECK mounts as data
                                "spec": {
                                    "accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": size.storage}},
                                },
                            }
                        ],
                    }
                ],
            },
            opts=crds.options(ELASTICSEARCH_API, parent=self),
        )
        self.kibana = CustomResource(
            f"{name}-kibana",
            api_version=KIBANA_API,
            kind="Kibana",
            metadata=object_meta(KIBANA, ns_name, labels),
            spec={
                "version": args.stack_version,
                "count": 1,
                "elasticsearchRef": {"name": ELASTICSEARCH},
                "podTemplate": {
                    "spec": {
                        "containers": [
                            {
                                "name": "kibana",
                                "resources": memory_bound_resources("200m", "1Gi"),
                            }
                        ]
                    }
                },
            },
            opts=crds.options(KIBANA_API, parent=self),
        )
        self.fluentd = None
        self.fluentd_monitor: CustomResource | None = None
        if args.fluentd_chart is not None:
            self.fluentd = release(
                f"{name}-fluentd",
                FLUENTD_RELEASE,
                args.fluentd_chart,
                ns_name,
                self._fluentd_values(args),
                self,
                crds,
                # Its credentials and CA exist once ECK has made Elasticsearch.
                depends_on=[self.elasticsearch],
            )
            if args.scrape_fluentd:
                self.fluentd_monitor = self._fluentd_monitor(name, args.fluentd_chart, ns_name, labels, crds)

        self.kibana_access: pulumi.Output[str] = pulumi.Output.from_input(
            f"kubectl -n {args.namespace} port-forward svc/{KIBANA_SERVICE} 5601, then https://localhost:5601 "
            f"(user {ES_USER}; password: kubectl -n {args.namespace} get secret {ES_USER_SECRET} "
            "-o jsonpath='{.data.elastic}' | base64 -d)"
        )
        self.elasticsearch_url: pulumi.Output[str] = pulumi.Output.from_input(
            f"https://{ES_SERVICE}.{args.namespace}.svc:{ES_HTTP_PORT}"
        )
        self.register_outputs({"kibana": self.kibana_access, "elasticsearch": self.elasticsearch_url})

    def _fluentd_monitor(
        self,
        name: str,
        chart: ChartRef,
        namespace: pulumi.Input[str],
        labels: Mapping[str, str],
        crds: CrdOwners,
    ) -> CustomResource:
        """Scrapes the chart's Service (its selector labels: chart name, release name).

        A resource of its own, so only it waits for the monitoring CRDs: the Fluentd Release, and
        with it log shipping, no longer waits for the whole Prometheus stack to install.
        """
        return service_monitor(
            f"{name}-fluentd-service-monitor",
            FLUENTD_RELEASE,
            namespace,
            labels,
            {"app.kubernetes.io/name": chart.chart, "app.kubernetes.io/instance": FLUENTD_RELEASE},
            METRICS_PORT_NAME,
            crds,
            parent=self,
            path=METRICS_PATH,
        )

    @staticmethod
    def _fluentd_values(args: LogPipelineArgs) -> dict[str, object]:
        return {
            "kind": "DaemonSet",
            "variant": "elasticsearch8",
            "image": {"repository": args.fluentd_image.repository, "tag": args.fluentd_image.tag},
            # The chart's ClusterRole: get/list/watch on pods and namespaces, nothing else.
            "rbac": {"create": True},
            "podSecurityPolicy": {"enabled": False},
            "env": [
                {
                    "name": "ES_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": ES_USER_SECRET, "key": ES_USER}},
                }
            ],
            "volumes": [{"name": "es-ca", "secret": {"secretName": ES_CA_SECRET, "defaultMode": 0o444}}],
            "volumeMounts": [{"name": "es-ca", "mountPath": CA_DIR, "readOnly": True}],
            "resources": memory_bound_resources("100m", "512Mi"),
            "fileConfigs": fluentd_config(args.namespace, args.retention_days),
            # Ours instead (_fluentd_monitor): the chart renders its ServiceMonitor only if the
            # monitoring CRDs already exist when it installs, and silently leaves it out otherwise.
            "metrics": {"serviceMonitor": {"enabled": False}},
            "dashboards": {"enabled": "true" if args.scrape_fluentd else "false"},
        }
