#!/usr/bin/env bash
# The compose deployment end to end on any machine with a Docker engine and Compose v2:
# build, up, wait until the api is healthy, /score, refresh the item vectors, see the api swap
# to the new bundle, down (volumes removed). Extra compose files are passed through:
#   scripts/docker-smoke.sh [-f override.yml ...]
# Environment: SMOKE_TIMEOUT_S (600, for the first training). The api's host port is whichever
# of INTTOWER_API_PORTS compose gave it (8000 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
timeout_s=${SMOKE_TIMEOUT_S:-600}
compose=(docker compose -p inttower-smoke -f docker-compose.yml "$@")
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }
live_version() { curl -fsS "$api/model" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }
trap '"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true' EXIT

step "build"
"${compose[@]}" build
docker image ls inttower:latest --format 'image {{.Repository}}:{{.Tag}} {{.Size}}'

step "up: the trainer publishes, then the api starts"
"${compose[@]}" up -d --wait --wait-timeout "$timeout_s"
"${compose[@]}" ps
api="http://$("${compose[@]}" port api 8000)"
first=$(live_version)
echo "live bundle $first"

step "/score"
curl -fsS -X POST "$api/score" -H 'content-type: application/json' \
  -d '{"user_id": "1", "candidate_ids": ["1", "50", "181"]}'
echo

step "refresh-items while the api serves"
"${compose[@]}" run --rm trainer inttower refresh-items --artifacts /artifacts --no-progress
for _ in $(seq 1 30); do
  now=$(live_version)
  [ "$now" != "$first" ] && break
  sleep 1
done
[ "$now" != "$first" ] || { echo "the api did not swap from $first" >&2; exit 1; }
echo "swapped $first -> $now"
curl -fsS "$api/model" | python3 -c 'import json,sys; m=json.load(sys.stdin); print("parent", m["parent"])'

step "down"
"${compose[@]}" down -v --remove-orphans
trap - EXIT
echo "smoke test passed in ${SECONDS}s"
