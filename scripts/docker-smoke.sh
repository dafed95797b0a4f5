#!/usr/bin/env bash
# The compose deployment end to end on any machine with a Docker engine and Compose v2:
# build, up, wait until the api is healthy, /score, refresh the item vectors, see the api swap
# to the new bundle; train a challenger, see the api shadow it and `rollout status` compare, promote
# it under traffic without a failed request; down (volumes removed). Extra compose files are
# passed through:
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

step "train a challenger: the api shadows it"
"${compose[@]}" run --rm trainer inttower train --dataset ml-100k --artifacts /artifacts \
  --epochs 2 --no-progress --as-challenger --rollout-share 1.0 > /dev/null
challenger_version() { curl -fsS "$api/model" | python3 -c 'import json,sys; c=json.load(sys.stdin)["challenger"]; print(c["version"] if c else "")'; }
for _ in $(seq 1 60); do
  challenger=$(challenger_version)
  [ -n "$challenger" ] && break
  sleep 1
done
[ -n "$challenger" ] || { echo "the api holds no challenger" >&2; exit 1; }
echo "live $now, challenger $challenger (shadow, every request)"
for user in 1 2 3 4 5 6 7 8 9 10; do
  curl -fsS -o /dev/null -X POST "$api/score" -H 'content-type: application/json' \
    -d "{\"user_id\": \"$user\", \"candidate_ids\": [\"1\", \"50\", \"181\", \"100\", \"258\", \"286\", \"288\", \"294\", \"300\", \"313\", \"7\", \"9\"]}"
done
sleep 1
status=$("${compose[@]}" run --rm trainer inttower rollout status --artifacts /artifacts \
  --url http://api:8000)
echo "$status"
python3 -c 'import json,sys; s=json.load(sys.stdin)["service"]; assert s["challenger"], s; assert s["inttower_shadow_total{outcome=compared}"] > 0, s' <<< "$status"

step "promote under traffic: no failed request"
failures=$(mktemp)
( while :; do
    curl -fsS -o /dev/null -X POST "$api/score" -H 'content-type: application/json' \
      -d '{"user_id": "1", "candidate_ids": ["1", "50", "181"]}' || echo fail >> "$failures"
  done ) &
traffic=$!
"${compose[@]}" run --rm trainer inttower rollout promote --artifacts /artifacts
for _ in $(seq 1 60); do
  [ "$(live_version)" = "$challenger" ] && break
  sleep 1
done
kill "$traffic"; wait "$traffic" 2>/dev/null || true
[ "$(live_version)" = "$challenger" ] || { echo "the api did not promote $challenger" >&2; exit 1; }
[ ! -s "$failures" ] || { echo "$(wc -l < "$failures") requests failed during the promotion" >&2; exit 1; }
echo "promoted $challenger, no failed request"

step "down"
"${compose[@]}" down -v --remove-orphans
trap - EXIT
echo "smoke test passed in ${SECONDS}s"
