// Our wrapper for the pulumi-kubernetes provider plugin. The provider module (served only as this
// pseudo-version, the commit tagged v4.25.0) replaces sdk/v4 with ../sdk; the proxy does not serve
// the sdk/v4 v4.24.0 it names, so every sdk/v4 is replaced by a served release. Not a newer one:
// sdk/v4 v4.29.0 pulls sdk/v3 up to v3.226.0 while pkg/v3 stays at the provider's v3.215.0, and
// pkg/v3 then fails to compile (workspace/plugin.go: not enough arguments in call to
// plugin.NewContextWithRoot). v4.22.2 needs only sdk/v3 v3.153.1, so pkg and sdk stay in step.
module boutique.e2e/wrappers/kubernetes-provider

go 1.26.0

require github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199

replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.22.2
