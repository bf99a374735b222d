// Our wrapper for the pulumi-kubernetes provider plugin. The provider module (served only as this
// pseudo-version, the commit tagged v4.25.0) replaces sdk/v4 with ../sdk; the proxy does not serve
// the sdk/v4 v4.24.0 it names, so every sdk/v4 is replaced by a served release.
module boutique.e2e/wrappers/kubernetes-provider

go 1.26.0

require github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199

replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.29.0
