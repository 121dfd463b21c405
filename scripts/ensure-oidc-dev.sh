#!/usr/bin/env bash
# Installs the dev OpenID provider (deploy/oidc-dev: panva's oidc-provider on Node)
# that `tousu run` and the sign-in tests start on loopback, and the browser-side
# tools the console's tests inject into pages (tests/node: axe-core):
#   nodejs + npm (Debian packages) when missing, then `npm ci` from the committed
#   package-lock.json whenever node_modules is missing or older than the lock.
# Idempotent and quiet when there is nothing to do.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="$here/deploy/oidc-dev"
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} (Debian packages) …"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing system packages: apt-get install ${missing[*]} (the dev OpenID provider)" >&2
    exit 0
  fi
fi
for dir in "$dir" "$here/tests/node"; do
  stamp="$dir/node_modules/.package-lock.json"
  if [ ! -e "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    echo "installing node packages (npm ci in ${dir#"$here"/}) …"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
