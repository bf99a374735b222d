"""One explicit Kubernetes provider for the whole stack: every Kubernetes object goes through it.

The default provider follows whatever kubeconfig context is current; an explicit one follows the
context the stack names. Rather than pass it to each component, every resource created at the top
of the stack gets it in its `providers`: a component hands its providers to the children it
creates with `parent=self` (the SDK's inheritance), and a Kubernetes resource uses the one for its
package. The tests check that no Kubernetes resource is left on the default provider.
"""

from __future__ import annotations

import pulumi
from pulumi_kubernetes.provider import Provider


def cluster_provider(resource_name: str, context: str) -> Provider:
    """The provider for the kubeconfig context `context` (empty: the current one, offline renders only).

    `kubeconfig=""`: the SDK would otherwise record $KUBECONFIG's path among the provider's inputs,
    and every run from another kubeconfig file (CI's deployer, a pull request's previewer, a laptop)
    would show the provider changing (`make e2e` found it: a preview right after an up was not
    empty). Empty, the provider finds the kubeconfig as kubectl does ($KUBECONFIG, else
    ~/.kube/config), the same file the program's cluster check reads; the context names the cluster.
    """
    return Provider(resource_name, context=context or None, kubeconfig="")


def use_for_every_resource(provider: pulumi.ProviderResource) -> None:
    """Hand `provider` to every resource created from now on at the top of the stack (no parent)."""

    def give_provider(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.opts.parent is not None or args.resource is provider:
            return None  # children inherit it from their parent
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(providers=[provider]))
        )

    pulumi.runtime.register_stack_transformation(give_provider)
