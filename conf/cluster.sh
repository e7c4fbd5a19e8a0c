#!/usr/bin/env bash
# Starts or stops every node of a cluster config on this machine, in the
# background (what `make cluster` and `make stop` run).
#
#   conf/cluster.sh start conf/local-cluster.toml
#   conf/cluster.sh stop  conf/local-cluster.toml
#
# Logs and pid files go to $RUN_DIR (default build/cluster).
set -euo pipefail
cmd="${1:-}"
config="${2:-conf/local-cluster.toml}"
BUILD="${BUILD:-build}"
RUN_DIR="${RUN_DIR:-$BUILD/cluster}"
tallyd="$BUILD/tallyd"
tally="$BUILD/tally"

usage() { echo "usage: $0 start|stop [CONFIG]" >&2; exit 2; }
[ -n "$cmd" ] || usage
[ -f "$config" ] || { echo "cluster: no config file $config" >&2; exit 2; }
# The cluster secret the config names ([cluster] secret_file): made on first
# start, 32 random bytes in base64, readable by its owner only.
secret=$(sed -n 's/^secret_file *= *"\(.*\)".*/\1/p' "$config" | head -1)
if [ -n "$secret" ]; then
  case "$secret" in /*) ;; *) secret="$(dirname "$config")/$secret" ;; esac
  if [ "$cmd" = start ] && [ ! -f "$secret" ]; then
    mkdir -p "$(dirname "$secret")"
    (umask 077 && head -c 32 /dev/urandom | base64 >"$secret")
    echo "cluster: made the cluster secret $secret"
  fi
fi
nodes=$("$tallyd" --config "$config" --list-nodes)
mkdir -p "$RUN_DIR"

start() {
  local endpoints="" failed=0
  while read -r id listen _; do
    local pidfile="$RUN_DIR/$id.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "cluster: $id already running (pid $(cat "$pidfile"))"
    else
      # Fault injection on: this cluster is for trying tally out and for
      # tally-bench --fault (faults still need the cluster secret).
      nohup "$tallyd" --config "$config" --node "$id" --enable-fault-injection >>"$RUN_DIR/$id.log" 2>&1 &
      echo $! >"$pidfile"
    fi
    endpoints="${endpoints:+$endpoints,}$listen"
  done <<<"$nodes"
  # Wait until every node answers.
  while read -r id listen _; do
    local ok=0
    for _ in $(seq 1 150); do
      if "$tally" -e "$listen" status >/dev/null 2>&1; then ok=1; break; fi
      if ! kill -0 "$(cat "$RUN_DIR/$id.pid")" 2>/dev/null; then break; fi
      sleep 0.1
    done
    if [ "$ok" = 1 ]; then
      echo "cluster: $id up on $listen"
    else
      echo "cluster: $id did not come up; its log ($RUN_DIR/$id.log) ends with:" >&2
      tail -5 "$RUN_DIR/$id.log" >&2
      failed=1
    fi
  done <<<"$nodes"
  if [ "$failed" = 1 ]; then
    echo "cluster: some nodes failed to start; \`make stop\` stops the others" >&2
    exit 1
  fi
  cat <<EOM

The cluster is up. Try:
  export TALLY_ENDPOINTS=$endpoints${secret:+
  export TALLY_SECRET_FILE=$secret   # for node, keyspace and repair commands}
  $tally put greeting hello
  $tally get greeting
  $tally status
  $tally cluster status
Nodes with a resp_listen in the config also speak the Redis protocol
(conf/local-cluster.toml: redis-cli -p 6381 SET k v), and those with a
metrics_listen serve Prometheus metrics (curl -s 127.0.0.1:9401/metrics).
Logs: $RUN_DIR/*.log. Stop it with \`make stop\`.
EOM
}

stop() {
  local any=0
  while read -r id _; do
    local pidfile="$RUN_DIR/$id.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "cluster: $id did not stop on SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "cluster: $id stopped"
      any=1
    fi
    rm -f "$pidfile"
  done <<<"$nodes"
  [ "$any" = 1 ] || echo "cluster: no node was running"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
