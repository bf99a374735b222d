// Our wrapper: builds kwok and kwokctl from the pinned sigs.k8s.io/kwok release (no replaces
// upstream; the wrapper keeps every piece built the same way, through build.sh).
module boutique.e2e/wrappers/kwok

go 1.26.0

require sigs.k8s.io/kwok v0.8.0

tool (
	sigs.k8s.io/kwok/cmd/kwok
	sigs.k8s.io/kwok/cmd/kwokctl
)
