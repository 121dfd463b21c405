#!/usr/bin/env bash
# Installs the system packages the tests use (PostgreSQL server) when missing.
# Needs root (as on CI and the dev machines); elsewhere it says what to install
# and the PostgreSQL tests skip themselves — except under CI, where they fail.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing postgresql (Debian package) for the tests …"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # The tests start their own throwaway cluster; the packaged one is not needed.
  (service postgresql stop || true) >/dev/null 2>&1
else
  echo "PostgreSQL server not found: apt-get install postgresql to run the PostgreSQL tests" >&2
fi
