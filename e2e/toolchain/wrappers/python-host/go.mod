// Our wrapper for the Python language host. Its module has no tags; the proxy refused its version
// list and the pseudo-version below (the commit of pulumi v3.252.0) when probed, so build.sh
// records this piece as failed with the proxy's answer and the harness runs the program through
// the Automation API (inline program), which needs no language host.
module boutique.e2e/wrappers/python-host

go 1.26.6

require (
	github.com/pulumi/pulumi/pkg/v3 v3.276.0
	github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 v3.0.0-20260713105300-31997188e2ca
	github.com/pulumi/pulumi/sdk/v3 v3.276.0
)

tool github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
