#!/usr/bin/env bash
# A real Prometheus scrapes a real game (issue 22). Not part of `make test`:
# building Prometheus takes about 7 minutes on 2 cores.
#
# It finds a prometheus binary ($PROMETHEUS, then PATH, then $(go env
# GOPATH)/bin) or builds v0.316.0 with go install; builds the supervisor;
# runs the demo headless with --metrics-addr; starts Prometheus with
# docs/prometheus.yml (its target rewritten to the game's port, scraped
# every second); queries the rate of ticks; kills physics with
# `supervisor fault physics kill`; and queries the restarts Prometheus
# then holds. It stops everything it started, by pid, on the way out.
#
# Ports: $PORT_BASE (default 19460) for /metrics, +1 for Prometheus, +2 for
# the demo's net server.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT_BASE=${PORT_BASE:-19460}
MPORT=$PORT_BASE PPORT=$((PORT_BASE + 1)) NPORT=$((PORT_BASE + 2))
INSTANCE=${INSTANCE:-promcheck}
WORK=$(mktemp -d /tmp/venomrt-prometheus.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ! -e "$WORK/keep" ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

prom=${PROMETHEUS:-}
if [[ -z "$prom" ]]; then
  prom=$(command -v prometheus || true)
fi
if [[ -z "$prom" && -x "$(go env GOPATH)/bin/prometheus" ]]; then
  prom="$(go env GOPATH)/bin/prometheus"
fi
if [[ -z "$prom" ]]; then
  echo "building Prometheus v0.316.0 (about 7 minutes on 2 cores)..." >&2
  go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0
  prom="$(go env GOPATH)/bin/prometheus"
fi
echo "prometheus: $prom"

go build -o "$WORK/supervisor" ./cmd/supervisor
sup="$WORK/supervisor"

"$sup" run --headless --fresh --instance "$INSTANCE" --metrics-addr "127.0.0.1:$MPORT" \
  --net-addr "127.0.0.1:$NPORT" --duration 5m >"$WORK/game.log" 2>&1 &
pids+=($!)

sed -e "s/127.0.0.1:9464/127.0.0.1:$MPORT/" -e "s/scrape_interval: 5s/scrape_interval: 1s/" \
  docs/prometheus.yml >"$WORK/prometheus.yml"
"$prom" --config.file="$WORK/prometheus.yml" --web.listen-address="127.0.0.1:$PPORT" \
  --storage.tsdb.path="$WORK/data" >"$WORK/prometheus.log" 2>&1 &
pids+=($!)

api="http://127.0.0.1:$PPORT/api/v1/query"
query() { curl -sfG --data-urlencode "query=$1" "$api"; }
# value QUERY: the first result's value, empty when none yet.
value() {
  query "$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
# until_value QUERY WHAT TEST: polls QUERY each second for up to 60 s
# until its value passes the python expression TEST (on v).
until_value() {
  for _ in $(seq 60); do
    v=$(value "$1" 2>/dev/null || true)
    if [[ -n "$v" ]] && python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if ($3) else 1)" "$v"; then
      echo "$v"
      return 0
    fi
    sleep 1
  done
  echo "no $2 within 60 s (last: ${v:-none}); logs kept in $WORK" >&2
  touch "$WORK/keep"
  return 1
}

until_value "up{job=\"venomrt\"}" "scrape" "v == 1" >/dev/null
echo "Prometheus scrapes 127.0.0.1:$MPORT/metrics"

# show LABEL QUERY WHAT TEST: waits for QUERY's value to pass TEST, prints it.
show() {
  local v
  v=$(until_value "$2" "$3" "$4")
  echo "$1$2 = $v"
}
show "" "rate(venomrt_ticks_total{instance=\"$INSTANCE\",process=\"physics\"}[10s])" "tick rate" "v > 50"
show "" "histogram_quantile(0.99, rate(venomrt_tick_duration_seconds_bucket{instance=\"$INSTANCE\",process=\"physics\"}[10s]))" "tick p99" "v > 0"
q="venomrt_process_restarts_total{instance=\"$INSTANCE\",process=\"physics\"}"
show "before the fault: " "$q" "restarts" "v == 0"
"$sup" fault physics kill --instance "$INSTANCE"
show "after the fault:  " "$q" "a restart" "v == 1"
show "" "venomrt_process_up{instance=\"$INSTANCE\",process=\"physics\"}" "physics up again" "v == 1"
echo "PASS"
