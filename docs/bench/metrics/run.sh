#!/bin/bash
# What the metrics door costs the request path (docs/benchmarks.md, "Metrics
# cost"): three tallyd on loopback, tally-bench puts then gets, with metrics
# on (every node scraped by curl once a second, as a Prometheus would) and off
# (no metrics_listen at all), alternating, a fresh cluster per run.
#   bash docs/bench/metrics/run.sh [PAIRS]      (from the repository's top)
set -u
PAIRS=${1:-3}
B=${BUILD:-build}
W=$(mktemp -d /tmp/tally-metrics-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT

config() {  # config METRICS(0|1)
  {
    echo '[storage]'; echo 'durability = "buffered"'
    echo '[log]'; echo 'level = "warn"'
    for i in 1 2 3; do
      echo '[[nodes]]'; echo "id = \"n$i\""; echo "listen = \"127.0.0.1:750$i\""
      echo "data_dir = \"$W/n$i\""
      [ "$1" = 1 ] && echo "metrics_listen = \"127.0.0.1:950$i\""
    done
  } > "$W/c.toml"
}

run() {  # run METRICS(0|1) PAIR
  rm -rf "$W"/n1 "$W"/n2 "$W"/n3
  config "$1"
  local pids=()
  for i in 1 2 3; do "$B/tallyd" -c "$W/c.toml" -n n$i --insecure 2>>"$W/log" & pids+=($!); done
  local scraper=
  if [ "$1" = 1 ]; then
    ( while true; do for i in 1 2 3; do curl -s -o /dev/null 127.0.0.1:950$i/metrics; done; sleep 1; done ) &
    scraper=$!
  fi
  local E=127.0.0.1:7501,127.0.0.1:7502,127.0.0.1:7503
  local tries=0
  until "$B/tally" -e 127.0.0.1:7501 put warm up >/dev/null 2>&1; do
    tries=$((tries + 1)); [ $tries -gt 100 ] && { echo "cluster did not start:"; tail "$W/log"; exit 1; }
    sleep 0.2
  done
  for wl in w c; do
    out=$("$B/tally-bench" -e $E --workload $wl --distribution uniform --keys 100000 --r 2 --w 2 \
          --concurrency 64 --duration 10 --warmup 2 2>/dev/null)
    # The summary row: throughput and p99 of the one operation the workload runs.
    echo "pair $2 metrics=$1 workload=$wl"
    echo "$out" | sed -n '1,12p'
  done
  [ -n "$scraper" ] && kill "$scraper"
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null
}

for p in $(seq 1 "$PAIRS"); do
  if [ $((p % 2)) = 1 ]; then run 0 "$p"; run 1 "$p"; else run 1 "$p"; run 0 "$p"; fi
done
