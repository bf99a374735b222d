// Our wrapper for the pulumi-random provider plugin (Terraform-bridged). The proxy refused its
// module's version list and the pseudo-version below (the commit tagged v4.21.1) when probed, so
// build.sh records this piece as failed with the proxy's answer; dev's e2e then runs with
// secretsMode external.
module boutique.e2e/wrappers/random

go 1.26.0

require github.com/pulumi/pulumi-random/provider/v4 v4.0.0-20260722185042-f2d8b029d0f7

tool github.com/pulumi/pulumi-random/provider/v4/cmd/pulumi-resource-random
