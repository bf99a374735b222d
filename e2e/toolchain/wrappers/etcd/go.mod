// Our wrapper: go.etcd.io/etcd/server/v3 replaces its sibling modules with local paths, so it
// cannot be built with `go install module@version`; here every sibling is required at one version.
module boutique.e2e/wrappers/etcd

go 1.26.0

require (
	go.etcd.io/etcd/api/v3 v3.6.16
	go.etcd.io/etcd/client/pkg/v3 v3.6.16
	go.etcd.io/etcd/client/v3 v3.6.16
	go.etcd.io/etcd/pkg/v3 v3.6.16
	go.etcd.io/etcd/server/v3 v3.6.16
)
