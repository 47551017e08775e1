#!/usr/bin/env bash
# Installs the system tools the tests drive for real, where this machine allows it (root + apt):
# chromium (browser test), sqlite3, fuser, ss and curl (runbook commands), prometheus + promtool,
# alertmanager + amtool (monitoring tests), nginx (the deployment guide's proxy), wrk (benchmarks),
# node + npm (the Node tests in clients/: the reference client and process coordination), and
# debootstrap + systemd-nspawn (the production rehearsal: a Debian host with real systemd) and
# iptables (the rehearsal's network partition between the clients and that host) and redis-server
# with redis-benchmark (the message bus of several instances, and its ceiling in the benchmarks).
# It never skips quietly: when something is missing and cannot be installed, it says so, and the
# tests that need it fail with the same message.
set -euo pipefail

declare -A PACKAGE=([chromium]=chromium [sqlite3]=sqlite3 [fuser]=psmisc [ss]=iproute2 [curl]=curl
                   [promtool]=prometheus [amtool]=prometheus-alertmanager [nginx]=nginx [wrk]=wrk
                   [node]=nodejs [npm]=npm [debootstrap]=debootstrap [systemd-nspawn]=systemd-container
                   [nsenter]=util-linux [iptables]=iptables [redis-server]=redis-server
                   [redis-benchmark]=redis-tools)
missing=()
for tool in "${!PACKAGE[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
else
  echo "!!! MISSING SYSTEM PACKAGES: ${missing[*]}" >&2
  echo "!!! cannot install them here (needs root and apt-get); the tests that use them will FAIL." >&2
  echo "!!! Install them (Debian: apt-get install ${missing[*]}) and run make test again." >&2
fi
