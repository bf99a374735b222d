#!/usr/bin/env bash
# Smoke test of what build.sh built: each binary present answers with its version, the Kubernetes
# binaries report the pinned (stamped) version, and the kubernetes provider installs as a plugin
# under the version the Python SDK asks for (in a throwaway PULUMI_HOME inside the cache).
# Usage: bash e2e/toolchain/smoke.sh [BIN_DIR]   (default: the bin dir build.sh prints)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=e2e/toolchain/versions.env
source "$HERE/versions.env"
BIN=${1:-$(bash "$HERE/build.sh" 2>/dev/null | tail -n 1)}
FAILED=0

check() {  # check NAME EXPECTED COMMAND...: the command's output contains EXPECTED
	local name=$1 expected=$2 out
	shift 2
	if [[ ! -x $BIN/$name ]]; then
		echo "SKIP $name: not built"
		return 0
	fi
	if out=$("$@" 2>&1) && [[ $out == *"$expected"* ]]; then
		echo "ok   $name: $(head -n 1 <<<"$out")"
	else
		echo "FAIL $name: expected '$expected' in: $(head -n 3 <<<"$out")"
		FAILED=1
	fi
}

check etcd "${ETCD_VERSION#v}" "$BIN/etcd" --version
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	check "$c" "Kubernetes $KUBERNETES_VERSION" "$BIN/$c" --version
done
check kubectl "$KUBERNETES_VERSION" "$BIN/kubectl" version --client
check kwok "$KWOK_VERSION" "$BIN/kwok" --version
check kwokctl "$KWOK_VERSION" "$BIN/kwokctl" --version
check pulumi "$PULUMI_VERSION" "$BIN/pulumi" version
check promtool "${PROMETHEUS_VERSION#v0.}" "$BIN/promtool" --version
check amtool "${ALERTMANAGER_VERSION#v}" "$BIN/amtool" --version

if [[ -x $BIN/pulumi && -x $BIN/pulumi-resource-kubernetes ]]; then
	home=$(dirname "$BIN")/smoke-pulumi-home
	rm -rf "$home"
	export PULUMI_HOME=$home PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
	"$BIN/pulumi" plugin install resource kubernetes "$PULUMI_KUBERNETES_PLUGIN_VERSION" \
		--file "$BIN/pulumi-resource-kubernetes" >/dev/null
	check pulumi-resource-kubernetes "$PULUMI_KUBERNETES_PLUGIN_VERSION" "$BIN/pulumi" plugin ls
	rm -rf "$home"
fi
exit "$FAILED"
