#!/usr/bin/env bash
# Vendor axe-core (npm) for the accessibility checks of the browser tests: fetched once from
# the npm registry with `npm pack`, its SHA-512 checked against the pinned one, unpacked to
# var/vendor/. Nothing is fetched from a CDN when the tests run.
#
#   scripts/axe-core.sh          fetch if absent, print the path of axe.min.js
set -euo pipefail

AXE_VERSION="4.10.3"
AXE_INTEGRITY="sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/var/vendor/axe-core-$AXE_VERSION"

die() { echo "axe-core.sh: $*" >&2; exit 1; }

if [[ ! -s "$DEST/axe.min.js" ]]; then
    command -v npm >/dev/null || die "npm is needed to fetch axe-core $AXE_VERSION from the npm registry (apt-get install npm)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null 2>"$work/npm.log") \
        || die "download of axe-core@$AXE_VERSION failed: $(tail -3 "$work/npm.log")"
    tarball="$work/axe-core-$AXE_VERSION.tgz"
    actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    [[ "$actual" == "$AXE_INTEGRITY" ]] || die "axe-core-$AXE_VERSION.tgz does not match its pinned SHA-512 ($actual)"
    tar -xzf "$tarball" -C "$work" package/axe.min.js package/LICENSE
    mkdir -p "$DEST"
    mv "$work/package/axe.min.js" "$work/package/LICENSE" "$DEST/"
fi
echo "$DEST/axe.min.js"
