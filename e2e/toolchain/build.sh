#!/usr/bin/env bash
# Builds the e2e toolchain (etcd, the Kubernetes control plane, kwok, the Pulumi CLI, its Python
# language host and provider plugins) from the Go module proxy, by module path and the versions
# pinned in versions.env, through our wrapper modules in wrappers/. Everything it writes lives in
# the cache, outside the repository:
#   ${BOUTIQUE_E2E_CACHE:-$HOME/.cache/boutique-e2e}/<key>/{bin,logs,src,manifest.json}
# A piece is rebuilt only when its wrapper or the pins change (or its binaries are missing), so a
# warm run only checks files. A piece that fails is recorded in manifest.json with its error and
# not retried until its inputs change (E2E_BUILD_RETRY=1 retries it). Progress goes to stderr;
# the last line on stdout is the bin dir.
#
# Env: BOUTIQUE_E2E_CACHE (cache root), E2E_BUILD_ONLY="etcd,kubernetes" (build only these
# pieces), E2E_BUILD_RETRY=1 (retry failed pieces).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WRAPPERS=$HERE/wrappers
# shellcheck source=e2e/toolchain/versions.env
source "$HERE/versions.env"

KEY="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_pulumi-${PULUMI_VERSION}_pk8s-${PULUMI_KUBERNETES_PLUGIN_VERSION}"
ROOT=${BOUTIQUE_E2E_CACHE:-$HOME/.cache/boutique-e2e}/$KEY
BIN=$ROOT/bin
LOGS=$ROOT/logs
SRC=$ROOT/src
STATUS=$ROOT/status
mkdir -p "$BIN" "$LOGS" "$SRC" "$STATUS"

# Shared machine: low priority, two parallel compile jobs. Static binaries (no cgo).
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-p=2 -buildvcs=false"
export CGO_ENABLED=0
NICE=(nice -n 10)

log() { printf '[e2e-build] %s\n' "$*" >&2; }

# The fingerprint of a piece: its wrapper files (which name every module version; the tests tie
# them to versions.env) and its build function (flags, stamps). A change means rebuild.
fingerprint() {
	local piece=$1
	{
		find "$WRAPPERS/$piece" -type f | LC_ALL=C sort | xargs cat
		declare -f "build_${piece//-/_}"
	} | sha256sum | cut -c1-16
}

# write_status PIECE STATUS SECONDS ERRORFILE FINGERPRINT OUTPUTS...
write_status() {
	local piece=$1 status=$2 seconds=$3 errfile=$4 fp=$5
	shift 5
	python3 - "$STATUS/$piece.json" "$piece" "$status" "$seconds" "$errfile" "$fp" "$@" <<'PY'
import json, sys
path, piece, status, seconds, errfile, fp, *outputs = sys.argv[1:]
error = ""
if errfile:
    with open(errfile, errors="replace") as f:
        lines = f.read().splitlines()
    error = "\n".join(lines[-40:])
with open(path, "w") as f:
    json.dump({"piece": piece, "status": status, "seconds": int(seconds), "fingerprint": fp,
               "outputs": outputs, "error": error}, f, indent=2)
PY
}

# The manifest: pins, key, and every piece's status; rewritten after each piece so a reader
# (the e2e harness) sees partial progress.
write_manifest() {
	python3 - "$ROOT" "$KEY" "$HERE/versions.env" "${1:-}" <<'PY'
import json, os, sys, glob
root, key, env, run = sys.argv[1:]
versions = {}
for line in open(env):
    line = line.strip()
    if line and not line.startswith("#") and "=" in line:
        k, v = line.split("=", 1)
        versions[k] = v
pieces = {}
for p in sorted(glob.glob(os.path.join(root, "status", "*.json"))):
    d = json.load(open(p))
    pieces[d.pop("piece")] = d
binaries = sorted(os.listdir(os.path.join(root, "bin")))
manifest = {"key": key, "bin": os.path.join(root, "bin"), "versions": versions,
            "binaries": binaries, "pieces": pieces}
previous = os.path.join(root, "manifest.json")
if os.path.exists(previous):
    manifest["runs"] = json.load(open(previous)).get("runs", [])[-9:]
if run:  # the end of a run: its seconds, what it built, disk in use then (KiB)
    manifest.setdefault("runs", []).append(json.loads(run))
tmp = os.path.join(root, "manifest.json.tmp")
with open(tmp, "w") as f:
    json.dump(manifest, f, indent=2)
os.replace(tmp, os.path.join(root, "manifest.json"))
PY
}

# Copies our wrapper into the cache and resolves its dependencies there (go.sum stays there).
prepare() {
	local piece=$1 dir=$SRC/$1
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$WRAPPERS/$piece"/* "$dir"/
	(cd "$dir" && "${NICE[@]}" go mod tidy)
}

# go_build PIECE OUT PACKAGE [go build args...]
go_build() {
	local piece=$1 out=$2 pkg=$3
	shift 3
	(cd "$SRC/$piece" && "${NICE[@]}" go build -o "$BIN/$out.tmp" "$@" "$pkg")
	mv "$BIN/$out.tmp" "$BIN/$out"
}

build_etcd() {
	prepare etcd
	go_build etcd etcd . -trimpath -ldflags "-s -w"
}

build_kubernetes() {
	prepare kubernetes
	local v=$KUBERNETES_VERSION major minor ld=""
	major=${v#v}; major=${major%%.*}
	minor=${v#v*.}; minor=${minor%%.*}
	local date
	date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	# Unstamped binaries report v0.0.0; the provider then treats the cluster as older than 1.24.
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
		ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
	done
	local c
	for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
		log "kubernetes: $c"
		go_build kubernetes "$c" "k8s.io/kubernetes/cmd/$c" -trimpath -ldflags "-s -w$ld"
	done
}

build_kwok() {
	prepare kwok
	# KubeVersion is the Kubernetes release kwokctl configures the control plane for.
	local ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}"
	ld+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBERNETES_VERSION}"
	go_build kwok kwok sigs.k8s.io/kwok/cmd/kwok -trimpath -ldflags "$ld"
	go_build kwok kwokctl sigs.k8s.io/kwok/cmd/kwokctl -trimpath -ldflags "$ld"
}

build_pulumi() {
	prepare pulumi
	go_build pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi -trimpath -tags osusergo,grpcnotrace \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}"
}

build_python_host() {
	prepare python-host
	go_build python-host pulumi-language-python github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 \
		-trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}"
	# The host runs its programs through this script, which it expects beside itself.
	local sdk
	sdk=$(cd "$SRC/python-host" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
	install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
}

build_kubernetes_provider() {
	prepare kubernetes-provider
	local dir=$SRC/kubernetes-provider mod
	mod=$(cd "$dir" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
	# What the module's generate.go writes: its committed schema with the plugin version set, and
	# the Terraform mapping, both compacted. Written in the cache only, never into the repository.
	python3 - "$mod/cmd/pulumi-resource-kubernetes" "$dir" "$PULUMI_KUBERNETES_PLUGIN_VERSION" <<'PY'
import json, os, sys
src, dst, version = sys.argv[1:]
with open(os.path.join(src, "schema.json")) as f:
    schema = json.load(f)
schema["version"] = version
with open(os.path.join(dst, "schema-embed.json"), "w") as f:
    json.dump(schema, f, separators=(",", ":"))
with open(os.path.join(src, "terraform-mapping.json")) as f:
    mapping = json.load(f)
with open(os.path.join(dst, "terraform-mapping-embed.json"), "w") as f:
    json.dump(mapping, f, separators=(",", ":"))
PY
	go_build kubernetes-provider pulumi-resource-kubernetes . -trimpath \
		-ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${PULUMI_KUBERNETES_PLUGIN_VERSION}"
}

build_random() {
	prepare random
	go_build random pulumi-resource-random github.com/pulumi/pulumi-random/provider/v4/cmd/pulumi-resource-random -trimpath -ldflags "-s -w"
}

build_prometheus() {
	prepare prometheus
	local p=github.com/prometheus/common/version
	go_build prometheus promtool github.com/prometheus/prometheus/cmd/promtool -trimpath \
		-ldflags "-s -w -X $p.Version=${PROMETHEUS_VERSION} -X $p.Branch=release"
	go_build prometheus amtool github.com/prometheus/alertmanager/cmd/amtool -trimpath \
		-ldflags "-s -w -X $p.Version=${ALERTMANAGER_VERSION} -X $p.Branch=release"
}

# piece NAME OUTPUTS... : build NAME with build_NAME unless its outputs are current.
FAILED=0
BUILT=0
piece() {
	local name=$1
	shift
	if [[ -n ${E2E_BUILD_ONLY:-} && ",$E2E_BUILD_ONLY," != *",$name,"* ]]; then
		return 0
	fi
	local st=$STATUS/$name.json fp
	fp=$(fingerprint "$name")
	if [[ -f $st ]] && grep -q "\"fingerprint\": \"$fp\"" "$st"; then
		if grep -q '"status": "ok"' "$st"; then
			local o missing=0
			for o in "$@"; do [[ -x $BIN/$o ]] || missing=1; done
			if [[ $missing == 0 ]]; then
				log "$name: up to date"
				return 0
			fi
		elif [[ -z ${E2E_BUILD_RETRY:-} ]]; then
			log "$name: failed before (see $st); E2E_BUILD_RETRY=1 retries"
			FAILED=1
			return 0
		fi
	fi
	log "$name: building (log: $LOGS/$name.log)"
	BUILT=$((BUILT + 1))
	local start=$SECONDS
	# In the background, so that errexit holds inside (it is off in an `if` condition).
	(set -euo pipefail; "build_${name//-/_}") >"$LOGS/$name.log" 2>&1 &
	if wait $!; then
		write_status "$name" ok $((SECONDS - start)) "" "$fp" "$@"
		log "$name: ok in $((SECONDS - start))s"
	else
		write_status "$name" failed $((SECONDS - start)) "$LOGS/$name.log" "$fp" "$@"
		log "$name: FAILED after $((SECONDS - start))s; last lines:"
		tail -n 15 "$LOGS/$name.log" >&2
		FAILED=1
	fi
	write_manifest
}

write_manifest
# In order of need: the control plane first (the harness can start the cluster and run the
# admission drill with it alone), then Pulumi, then the nice-to-have tools.
piece etcd etcd
piece kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl
piece kwok kwok kwokctl
piece pulumi pulumi
piece kubernetes-provider pulumi-resource-kubernetes
piece python-host pulumi-language-python pulumi-language-python-exec
piece random pulumi-resource-random
piece prometheus promtool amtool
# Disk in use, measured only after a run that built something (du of the Go caches takes a while).
disk='{}'
if [[ $BUILT != 0 ]]; then
	disk=$(printf '{"cache_kib": %s, "gomodcache_kib": %s, "gocache_kib": %s}' \
		"$(du -sk "$ROOT" | cut -f1)" "$(du -sk "$(go env GOMODCACHE)" | cut -f1)" \
		"$(du -sk "$(go env GOCACHE)" | cut -f1)")
fi
write_manifest "$(printf '{"finished": "%s", "seconds": %s, "built": %s, "failed": %s, "disk": %s}' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SECONDS" "$BUILT" "$FAILED" "$disk")"
log "done in ${SECONDS}s"
if [[ $FAILED != 0 ]]; then
	log "some pieces failed: see $ROOT/manifest.json"
fi
echo "$BIN"
