// Our wrapper: pkg/v3's go.mod replaces sdk/v3 with ../sdk and atotto/clipboard with a fork, so
// `go install` of cmd/pulumi is refused; here both modules are required at one version and the
// clipboard replace is repeated.
module boutique.e2e/wrappers/pulumi

go 1.26.6

require (
	github.com/pulumi/pulumi/pkg/v3 v3.276.0
	github.com/pulumi/pulumi/sdk/v3 v3.276.0
)

tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
