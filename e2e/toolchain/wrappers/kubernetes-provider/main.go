// Command pulumi-resource-kubernetes serves the pulumi-kubernetes provider. The module's own main
// embeds schema-embed.json and terraform-mapping-embed.json, which its build generates (and git
// ignores), so it cannot be built from the module zip; build.sh writes both files next to this
// one in the cache from the module's committed schema.json and terraform-mapping.json.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
