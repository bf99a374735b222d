// Our wrapper: promtool and amtool from the pinned Prometheus and Alertmanager modules.
module boutique.e2e/wrappers/prometheus

go 1.26.7

require (
	github.com/prometheus/alertmanager v0.35.0
	github.com/prometheus/prometheus v0.316.0
)

tool (
	github.com/prometheus/alertmanager/cmd/amtool
	github.com/prometheus/prometheus/cmd/promtool
)
