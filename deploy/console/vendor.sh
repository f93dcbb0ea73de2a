#!/usr/bin/env bash
# Fetches the console's front-end libraries (api/console/static/vendor/SOURCES) with `npm pack`
# and copies their ES modules beside it, then checks them against the committed SHA256SUMS.
# The copies are committed: serving the console needs neither npm nor a network.
# Usage: deploy/console/vendor.sh            fetch and check
#        deploy/console/vendor.sh --update   fetch and record new sums (after changing SOURCES)
set -euo pipefail
cd "$(dirname "$0")/../.."
vendor=api/console/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

while read -r spec path target; do
    [[ -z "$spec" || "$spec" == \#* ]] && continue
    unpacked="$work/${spec//[\/@]/_}"
    if [[ ! -d "$unpacked" ]]; then
        mkdir -p "$unpacked"
        (cd "$unpacked" && npm pack --silent "$spec" >/dev/null && tar -xzf ./*.tgz)
    fi
    mkdir -p "$(dirname "$vendor/$target")"
    cp "$unpacked/package/$path" "$vendor/$target"
done < "$vendor/SOURCES"

cd "$vendor"
if [[ "${1:-}" == "--update" ]]; then
    grep -v '^#' SOURCES | awk 'NF {print $3}' | xargs sha256sum > SHA256SUMS
fi
sha256sum --check --strict SHA256SUMS
