#!/usr/bin/env bash
# Scrapes a freshly started server's /metrics and runs Prometheus' own linter on it
# (`promtool check metrics`): names, types, help texts, and every known outcome at 0.
set -euo pipefail
cd "$(dirname "$0")/.."
token="ci-metrics-token-$(date +%s%N)"
log=$(mktemp)
AZURITE_IN_MEMORY=true METRICS_TOKEN="$token" PORT=0 NODE_ENV=production node dist/src/cli.js serve --no-demo > "$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  url=$(grep -o 'listening on http://[^ ]*' "$log" | cut -d' ' -f3 || true)
  [ -n "$url" ] && break
  sleep 0.2
done
[ -n "$url" ] || { echo "promtool-check: server did not start"; cat "$log"; exit 1; }
metrics=$(curl -fsS -H "Authorization: Bearer $token" "$url/metrics")
# prom-client's own default metrics name three gauges `nodejs_active_*_total`, which promtool flags
# (siimon/prom-client keeps the names for compatibility); those three are reported, anything else fails.
problems=$(echo "$metrics" | promtool check metrics 2>&1 || true)
known='^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$'
unexpected=$(echo "$problems" | grep -Ev "$known" | grep -v '^$' || true)
[ -z "$problems" ] || echo "promtool (prom-client defaults, not ours): $(echo "$problems" | grep -Ec "$known") known findings"
[ -z "$unexpected" ] || { echo "promtool check metrics:"; echo "$unexpected"; exit 1; }
for outcome in deleted retried poisoned lost abandoned; do
  echo "$metrics" | grep -q "^consumer_messages_total{outcome=\"$outcome\"} 0$" || { echo "promtool-check: consumer_messages_total{outcome=\"$outcome\"} is not exported at 0"; exit 1; }
done
echo "promtool-check: /metrics passes promtool check metrics; every consumer outcome starts at 0"
