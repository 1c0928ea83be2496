#!/usr/bin/env bash
# scripts/deps.sh - install the Debian packages dynkv builds and tests with.
# Quiet and quick when everything is already there.
set -euo pipefail
pkgs=(build-essential autoconf automake libtool pkg-config
      libuv1-dev libsqlite3-dev libzstd-dev liblz4-dev libinih-dev libcunit1-dev
      libhttp-parser-dev libjansson-dev libxxhash-dev libssl-dev openssl gnuplot-nox
      clang clang-format libclang-rt-14-dev python3 python3-pytest curl iproute2 iptables util-linux procps
      librocksdb-dev libleveldb-dev liblmdb-dev libsystemd-dev systemd python3-yaml chromium chromium-driver)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
