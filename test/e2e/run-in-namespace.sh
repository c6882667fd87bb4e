#!/usr/bin/env bash
# run-in-namespace.sh -- run COMMAND in a fresh, isolated set of Linux namespaces:
#   net   only `lo` exists (nothing can reach, or be reached from, any real network)
#   mount private: /etc/hosts maps the well-known public DHT router names to 127.0.0.1 and
#         /etc/resolv.conf points at 127.0.0.1, so even a hard-coded bootstrap list stays inside
#   pid   COMMAND's tree dies with the namespace (unshare --kill-child): when COMMAND ends, or when
#         this script gets SIGTERM/SIGINT/SIGHUP, every process inside is killed
#
# usage: test/e2e/run-in-namespace.sh [--] COMMAND [ARG...]
#        test/e2e/run-in-namespace.sh              (an interactive shell inside)
#
# Environment inside COMMAND:
#   E2E_IN_NAMESPACE=1
#   E2E_RUN_DIR      work dir (logs, data, configs); from the caller or a fresh /tmp/capture-e2e.XXXX
#   E2E_DAEMON_IP    127.200.0.1: the address (own /24) for the code under test
#   E2E_BOOTSTRAP    127.0.0.1:6881: the private DHT's bootstrap node (started by the swarm)
#   E2E_DAEMON_IP6   fd00:cd::200 and E2E_BOOTSTRAP6 [fd00:cd::1]:6881: the same on IPv6 (ULA on lo)
#
# Every process that speaks DHT or BitTorrent in the e2e suite runs under this script. Requires
# root (unshare). The swarm code checks the isolation again before it starts a client.
set -euo pipefail
SELF=$(readlink -f "$0")

if [ -z "${E2E_IN_NAMESPACE:-}" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "run-in-namespace.sh: needs root (unshare --net)" >&2
    exit 77
  fi
  command -v unshare >/dev/null && command -v ip >/dev/null || { echo "run-in-namespace.sh: needs unshare (util-linux) and ip (iproute2)" >&2; exit 77; }
  if [ -z "${E2E_RUN_DIR:-}" ]; then E2E_RUN_DIR=$(mktemp -d /tmp/capture-e2e.XXXXXX); fi
  mkdir -p "$E2E_RUN_DIR"
  export E2E_RUN_DIR
  [ "${1:-}" = -- ] && shift
  # unshare --fork ignores SIGTERM/SIGINT while it waits; SIGKILL makes --kill-child take down the
  # namespace's PID 1, and with it every process inside. So: on TERM/INT/HUP, SIGKILL unshare.
  exec 3<&0
  unshare --net --mount --propagation private --pid --fork --mount-proc --kill-child \
    env E2E_IN_NAMESPACE=1 "$SELF" "$@" <&3 &
  ns_pid=$!
  trap 'kill -KILL "$ns_pid" 2>/dev/null || true' TERM INT HUP
  rc=0
  wait "$ns_pid" || rc=$?
  # a trapped signal interrupts `wait`: reap the (killed) unshare before leaving
  while kill -0 "$ns_pid" 2>/dev/null; do wait "$ns_pid" || rc=$?; done
  exit "$rc"
fi

# ---------------- inside the new namespaces from here on ----------------
[ "${1:-}" = -- ] && shift

ip link set lo up
others=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -vx lo || true)
if [ -n "$others" ]; then
  echo "run-in-namespace.sh: refusing to run: interfaces other than lo exist ($others)" >&2
  exit 3
fi
# one /24 per simulated host (the whole 127/8 is local on lo anyway; these make `ip addr` readable)
export E2E_DAEMON_IP=127.200.0.1 E2E_BOOTSTRAP=127.0.0.1:6881
for a in 127.1.0.2 127.2.0.2 127.3.0.2 127.6.0.2 127.7.0.2 127.9.0.2 127.250.0.1 "$E2E_DAEMON_IP"; do
  ip addr add "$a/32" dev lo 2>/dev/null || true
done
# IPv6 (BEP 32): ULA addresses (fd00::/8) on lo, inside this namespace only; nodad: usable at once.
#   fd00:cd::1 IPv6 DHT bootstrap · ::2 lt-seed6 (IPv6 only) · ::3 Transmission's IPv6 side
#   ::200 the daemon · ::250 / ::251 probes
export E2E_DAEMON_IP6=fd00:cd::200 E2E_BOOTSTRAP6='[fd00:cd::1]:6881'
sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 2>/dev/null || true
for a in fd00:cd::1 fd00:cd::2 fd00:cd::3 fd00:cd::250 fd00:cd::251 "$E2E_DAEMON_IP6"; do
  ip -6 addr add "$a/128" dev lo nodad 2>/dev/null || true
done

mkdir -p "$E2E_RUN_DIR/ns"
cat >"$E2E_RUN_DIR/ns/hosts" <<'EOF'
127.0.0.1 localhost
127.0.0.1 router.bittorrent.com router.utorrent.com dht.transmissionbt.com dht.libtorrent.org dht.aelitis.com router.bitcomet.com router.silotis.us
::1 localhost ip6-localhost ip6-loopback
EOF
echo "nameserver 127.0.0.1" >"$E2E_RUN_DIR/ns/resolv.conf"
mount --bind "$E2E_RUN_DIR/ns/hosts" /etc/hosts
mount --bind "$E2E_RUN_DIR/ns/resolv.conf" /etc/resolv.conf

if [ $# -eq 0 ]; then
  echo "inside the e2e namespace (only lo; E2E_RUN_DIR=$E2E_RUN_DIR); exit to tear down" >&2
  set -- bash -i
fi
rc=0
"$@" || rc=$?
# Leaving: this shell is PID 1 of the namespace, so every process still inside dies with it.
exit $rc
