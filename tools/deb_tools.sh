#!/usr/bin/env bash
# Command-line tools the checks need, taken out of Debian's/Ubuntu's packages into DIR (the
# Makefile's .tools/bin) and nothing else: the packages are downloaded (`apt-get download`) and
# unpacked (`dpkg-deb -x`) in a temporary folder, never installed, so no service is set up or
# started (installing prometheus, prometheus-alertmanager or redis-server starts Prometheus on
# :9090, Alertmanager on :9093, Redis on :6379 on a systemd host).
#   prom   promtool and amtool, from prometheus and prometheus-alertmanager (static Go binaries).
#   redis  redis-server and redis-cli, from redis-tools (its redis-check-rdb is the server: it picks
#          its mode from the name it runs under; the redis-server package only adds a symlink and
#          the service). The shared libraries it links whose packages this machine lacks (e.g.
#          libjemalloc2, liblzf1) go into DIR/../lib; DIR holds wrappers that point the loader there.
# Only `apt-get update` needs root: through sudo when not root (GitHub's runners), directly as root
# (CI containers). Nothing to do when DIR already holds the set's tools.
set -euo pipefail
usage="usage: tools/deb_tools.sh prom|redis DIR"
set_name=${1:-}
dest=${2:-}
case "$set_name" in
    prom) tools=(promtool amtool) packages=(prometheus prometheus-alertmanager) ;;
    redis) tools=(redis-server redis-cli) packages=(redis-tools) ;;
    *) set_name= ;;
esac
if [ -z "$set_name" ] || [ -z "$dest" ]; then
    echo "$usage" >&2
    exit 2
fi
missing_tool=
for tool in "${tools[@]}"; do
    [ -x "$dest/$tool" ] || missing_tool=$tool
done
if [ -z "$missing_tool" ]; then
    exit 0
fi
sudo=()
download=(apt-get download -qq)
if [ "$(id -u)" = 0 ]; then
    download=(apt-get -o APT::Sandbox::User=root download -qq)  # root's own temporary folder
else
    if ! command -v sudo >/dev/null 2>&1; then
        echo "${tools[*]}: apt-get update needs root; run 'make $set_name-tools' as root (no sudo here)" >&2
        exit 1
    fi
    sudo=(sudo)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "${tools[*]} -> $dest (apt-get download ${packages[*]}; nothing installed)"
"${sudo[@]}" apt-get update -qq
(cd "$work" && "${download[@]}" "${packages[@]}")

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q " installed$"
}

# The lib* packages a downloaded package depends on that are not installed here: the first
# alternative of each (a machine with any of them has the library).
missing_libraries() {
    local entry alternative name found
    IFS=',' read -ra entries <<<"$(dpkg-deb -f "$1" Depends)"
    for entry in "${entries[@]}"; do
        found= name=
        IFS='|' read -ra alternatives <<<"$entry"
        for alternative in "${alternatives[@]}"; do
            alternative=${alternative%%(*}
            alternative=${alternative// /}
            alternative=${alternative%%:*}
            # Only libraries; never libc6, which must match the machine's own loader.
            case "$alternative" in libc6) continue ;; lib*) ;; *) continue ;; esac
            name=${name:-$alternative}
            if installed "$alternative"; then found=1; fi
        done
        if [ -n "$name" ] && [ -z "$found" ]; then echo "$name"; fi
    done
}

if [ "$set_name" = redis ]; then
    mapfile -t libraries < <(missing_libraries "$work"/redis-tools_*.deb)
    if [ "${#libraries[@]}" -gt 0 ]; then
        echo "redis: libraries this machine lacks -> $dest/../lib: ${libraries[*]}"
        (cd "$work" && "${download[@]}" "${libraries[@]}")
    fi
fi
for deb in "$work"/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
done
mkdir -p "$dest"
if [ "$set_name" = prom ]; then
    install -m 0755 "$work/root/usr/bin/promtool" "$work/root/usr/bin/amtool" "$dest/"
    exit 0
fi

base="$dest/.."
mkdir -p "$base/lib" "$base/libexec"
find "$work/root" -path '*/lib/*' -name 'lib*.so*' \( -type f -o -type l \) -exec cp -P {} "$base/lib/" \;
install -m 0755 "$work/root/usr/bin/redis-check-rdb" "$base/libexec/redis-server"
install -m 0755 "$work/root/usr/bin/redis-cli" "$base/libexec/redis-cli"
for tool in redis-server redis-cli; do
    cat >"$dest/$tool" <<WRAPPER
#!/bin/sh
# $tool from Debian's/Ubuntu's redis-tools (tools/deb_tools.sh), with the libraries put beside it.
base=\$(cd "\$(dirname "\$0")/.." && pwd)
LD_LIBRARY_PATH="\$base/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$base/libexec/$tool" "\$@"
WRAPPER
    chmod 0755 "$dest/$tool"
done
# A library still missing shows here, not in the middle of a test.
for tool in redis-server redis-cli; do
    if ! "$dest/$tool" --version >/dev/null; then
        rm -f "$dest/redis-server" "$dest/redis-cli"
        echo "redis: $tool from redis-tools does not run here (a shared library missing?)" >&2
        exit 1
    fi
done
