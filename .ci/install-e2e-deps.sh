#!/usr/bin/env bash
# .ci/install-e2e-deps.sh -- Debian packages of the end-to-end suite (test/e2e/):
# real BitTorrent clients (libtorrent via python3-libtorrent, Transmission, aria2),
# tshark to decode pcaps, iproute2 for the loopback-only network namespace.
#
# Idempotent and quick: does nothing (no apt-get update) when everything is installed.
# No service is ever started: transmission-daemon's package would enable and start a
# system service in the HOST network namespace; a policy-rc.d that exits 101 makes
# invoke-rc.d refuse every start while we install (the e2e suite starts its clients
# itself, only inside an isolated network namespace).
set -euo pipefail

PKGS=(transmission-daemon transmission-cli aria2 python3-libtorrent tshark iproute2 util-linux procps)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-e2e-deps: all installed (${PKGS[*]})"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "install-e2e-deps: missing ${missing[*]}, and not root: cannot install" >&2
  exit 1
fi

TMP_POLICY=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# installed by .ci/install-e2e-deps.sh: no service starts during the install\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  TMP_POLICY=1
fi
cleanup() { if [ "$TMP_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "install-e2e-deps: installing ${missing[*]}"
apt-get update -qq
# tshark asks whether non-root users may capture: answer no, non-interactively
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# belt and braces: the packaged service must not run in the host namespace
if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
  systemctl disable --now transmission-daemon.service >/dev/null 2>&1 || true
fi
for p in transmission-daemon aria2c; do
  if pgrep -x "$p" >/dev/null 2>&1; then
    echo "install-e2e-deps: WARNING: $p is running in the host namespace (not started by this script)" >&2
  fi
done
dpkg-query -W -f='${Package} ${Version}\n' "${PKGS[@]}"
