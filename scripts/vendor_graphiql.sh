#!/usr/bin/env bash
# Vendors GraphiQL's browser assets into graphql_gateway/static/graphiql/ so the explorer works offline.
# Versions and npm integrity hashes are pinned here; the manifest records the sha256 of every file,
# and tests/unit/gateway/test_graphiql.py checks the files against it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/graphql_gateway/static/graphiql"

# name@version  npm integrity (sha512 of the tarball, as the registry publishes it)
PACKAGES=(
  "graphiql@3.8.3 sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw=="
  "graphql-ws@5.16.2 sha512-E1uccsZxt/96jH/OwmLPuXMACILs76pKF2i3W861LpKBCYtGIyPQGtWLuBLkND4ox1KHns70e83PS4te50nvPQ=="
  "react@18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ=="
  "react-dom@18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw=="
)

# tarball path -> file name under $DEST
FILES=(
  "graphiql package/graphiql.min.js graphiql.min.js"
  "graphiql package/graphiql.min.css graphiql.min.css"
  "graphiql package/LICENSE graphiql.LICENSE"
  "graphql-ws package/umd/graphql-ws.min.js graphql-ws.min.js"
  "graphql-ws package/LICENSE.md graphql-ws.LICENSE"
  "react package/umd/react.production.min.js react.production.min.js"
  "react package/LICENSE react.LICENSE"
  "react-dom package/umd/react-dom.production.min.js react-dom.production.min.js"
  "react-dom package/LICENSE react-dom.LICENSE"
)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for entry in "${PACKAGES[@]}"; do
  spec="${entry% *}"
  want="${entry#* }"
  name="${spec%@*}"
  (cd "$WORK" && npm pack --silent "$spec" >/dev/null)
  tarball="$WORK/${name}-${spec##*@}.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [[ "$got" != "$want" ]]; then
    echo "integrity mismatch for $spec: got $got, want $want" >&2
    exit 1
  fi
  mkdir -p "$WORK/$name"
  tar -xzf "$tarball" -C "$WORK/$name"
done

rm -rf "$DEST"
mkdir -p "$DEST"
for entry in "${FILES[@]}"; do
  read -r name src dst <<<"$entry"
  cp "$WORK/$name/$src" "$DEST/$dst"
done

# The manifest: pinned versions and the sha256 of every vendored file.
{
  echo "# Written by scripts/vendor_graphiql.sh; checked by tests/unit/gateway/test_graphiql.py."
  for entry in "${PACKAGES[@]}"; do echo "package ${entry% *}"; done
  (cd "$DEST" && for f in $(ls | grep -v '^MANIFEST$' | sort); do echo "sha256 $(sha256sum "$f")"; done)
} >"$DEST/MANIFEST"
echo "vendored into $DEST"
