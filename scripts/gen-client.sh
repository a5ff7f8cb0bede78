#!/usr/bin/env bash
# Generate the UI's TypeScript API types from the server's OpenAPI document (in-process,
# no server needed). With --check, fail when the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=$(command -v uv || echo "python3 -m uv")
out_dir=frontend
spec="$out_dir/openapi.json"
types="$out_dir/src/api/schema.d.ts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Settings would read DOCKYARD_* from the environment; none matter for the schema.
env -u DOCKYARD_DATABASE_URL $UV run --frozen dockyard openapi > "$tmp/openapi.json"
(cd "$out_dir" && npx --no-install openapi-typescript "$tmp/openapi.json" -o "$tmp/schema.d.ts" >/dev/null)

if [ "${1:-}" = "--check" ]; then
  stale=0
  cmp -s "$tmp/openapi.json" "$spec" || { echo "stale: $spec"; stale=1; }
  cmp -s "$tmp/schema.d.ts" "$types" || { echo "stale: $types"; stale=1; }
  if [ "$stale" -ne 0 ]; then
    echo "The API changed but the UI's generated client did not: run 'make gen-client' and commit." >&2
    exit 1
  fi
  echo "generated API client is up to date"
else
  cp "$tmp/openapi.json" "$spec"
  cp "$tmp/schema.d.ts" "$types"
  echo "wrote $spec and $types"
fi
