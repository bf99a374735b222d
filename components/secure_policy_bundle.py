"""SecurePolicyBundle: everything that limits what a namespace's workloads and people may do.

Resource limits (ResourceQuota, LimitRange), NetworkPolicies, RBAC, secrets from a secrets manager,
admission rules and, with a mesh, mTLS and authorization. Each layer is built by its own module from
a plan the caller derives; this component only puts them together under one parent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core import v1 as core

from components.access_control import AccessPlan, create_access_control
from components.admission_policies import create_admission_policies
from components.crds import CrdOwners
from components.external_secrets import ExternalSecretSpec, SecretStoreSpec, create_external_secrets
from components.kube import object_meta, secret
from components.mesh_security import WorkloadAccess, create_mesh_security
from components.network_policies import NetworkPlan, create_network_policies


@dataclass(frozen=True)
class ContainerLimits:
    """LimitRange for containers: `max` caps any container; the defaults go to one declaring none."""

    max: Mapping[str, str]
    default_requests: Mapping[str, str]
    default_limits: Mapping[str, str]


DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"  # the Secret type kubelets pull with
DOCKER_CONFIG_KEY = ".dockerconfigjson"


@dataclass(frozen=True)
class RegistryCredentials:
    """A generated pull Secret: `docker_config` is a Docker config JSON, a Pulumi secret."""

    name: str
    docker_config: pulumi.Input[str]


@dataclass(frozen=True)
class SecurePolicyBundleArgs:
    namespace: pulumi.Input[str]  # the Namespace's name as an output: objects wait for it
    namespace_name: str  # the same name, known now: cluster-scoped selectors need it as a string
    labels: Mapping[str, str]
    network: NetworkPlan
    access: AccessPlan
    allowed_registries: Sequence[str]
    quota: Mapping[str, str]  # ResourceQuota `hard`
    container_limits: ContainerLimits
    secret_store: SecretStoreSpec | None = None  # None: secrets are generated in the stack
    external_secrets: Sequence[ExternalSecretSpec] = ()
    mesh: Sequence[WorkloadAccess] | None = None  # None: no mesh
    # Registry credentials generated in the stack (in external mode they are an ExternalSecret).
    registry_credentials: RegistryCredentials | None = None


class SecurePolicyBundle(pulumi.ComponentResource):
    """Outputs: `network_policies`, `roles` (bound role names), `external_secrets` (Secret names)."""

    def __init__(
        self,
        name: str,
        args: SecurePolicyBundleArgs,
        crds: CrdOwners,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("boutique:index:SecurePolicyBundle", name, None, opts)
        ns, labels = args.namespace, args.labels
        child = pulumi.ResourceOptions(parent=self)

        self.quota = core.ResourceQuota(
            f"{name}-quota",
            metadata=object_meta(args.namespace_name, ns, labels),
            spec=core.ResourceQuotaSpecArgs(hard=dict(args.quota)),
            opts=child,
        )
        limits = args.container_limits
        self.limit_range = core.LimitRange(
            f"{name}-limits",
            metadata=object_meta(args.namespace_name, ns, labels),
            spec=core.LimitRangeSpecArgs(
                limits=[
                    core.LimitRangeItemArgs(
                        type="Container",
                        max=dict(limits.max),
                        default=dict(limits.default_limits),
                        default_request=dict(limits.default_requests),
                    )
                ]
            ),
            opts=child,
        )
        self.network_policies = create_network_policies(self, name, ns, labels, args.network)
        self.role_bindings = create_access_control(self, name, ns, labels, args.access)
        self.admission_bindings = create_admission_policies(
            self, name, args.namespace_name, labels, args.allowed_registries
        )
        # Secret name -> the resource that makes that Secret exist (workloads depend on it).
        self.secrets: dict[str, pulumi.Resource] = {}
        if args.secret_store is not None:
            self.secrets.update(
                create_external_secrets(self, name, ns, labels, args.secret_store, args.external_secrets, crds)
            )
        if args.registry_credentials is not None:
            credentials = args.registry_credentials
            self.secrets[credentials.name] = secret(
                f"{name}-{credentials.name}",
                credentials.name,
                ns,
                labels,
                {DOCKER_CONFIG_KEY: credentials.docker_config},
                self,
                secret_type=DOCKER_CONFIG_JSON,
            )
        self.mesh_policies = (
            create_mesh_security(self, name, ns, labels, args.mesh, crds) if args.mesh is not None else []
        )

        self.register_outputs(
            {
                "network_policies": [w.name for w in args.network.workloads],
                "roles": sorted(self.role_bindings),
                "external_secrets": sorted(self.secrets),
            }
        )
