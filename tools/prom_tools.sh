#!/usr/bin/env bash
# promtool and amtool into DIR (the Makefile's .tools/bin), nothing else: the two binaries are taken
# out of Debian's/Ubuntu's `prometheus` and `prometheus-alertmanager` packages, which are downloaded
# (`apt-get download`) and unpacked (`dpkg-deb -x`) in a temporary folder, never installed, so no
# service is set up or started (installing them starts Prometheus on :9090 and Alertmanager on
# :9093 on a systemd host). Only `apt-get update` needs root: through sudo when not root (GitHub's
# runners), directly as root (CI containers). Nothing to do when DIR already holds both.
set -euo pipefail
dest=${1:?usage: tools/prom_tools.sh DIR}
if [ -x "$dest/promtool" ] && [ -x "$dest/amtool" ]; then
    exit 0
fi
sudo=()
download=(apt-get download -qq)
if [ "$(id -u)" = 0 ]; then
    download=(apt-get -o APT::Sandbox::User=root download -qq)  # root's own temporary folder
else
    if ! command -v sudo >/dev/null 2>&1; then
        echo "promtool/amtool: apt-get update needs root; run 'make prom-tools' as root (no sudo here)" >&2
        exit 1
    fi
    sudo=(sudo)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "promtool, amtool -> $dest (apt-get download prometheus prometheus-alertmanager; nothing installed)"
"${sudo[@]}" apt-get update -qq
(cd "$work" && "${download[@]}" prometheus prometheus-alertmanager)
for deb in "$work"/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
done
mkdir -p "$dest"
install -m 0755 "$work/root/usr/bin/promtool" "$work/root/usr/bin/amtool" "$dest/"
