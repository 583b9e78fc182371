#!/usr/bin/env bash
# A Redis server for Orleans membership (a cluster config's "clustering": { "redis": "HOST:PORT" }): Debian's
# redis-server (apt-get install redis-server), run as a daemon of this user, its data (the membership table, kept
# across restarts in an append-only file), pid file and log in one folder.
#
#   cluster/redis.sh start [--port 6379] [--bind 127.0.0.1] [--dir DIR]   start it and wait until it answers
#   cluster/redis.sh stop  [--port 6379] [--dir DIR]                      stop it (SIGTERM to its pid, then wait)
#   cluster/redis.sh status [--port 6379] [--dir DIR]                     exit 0 when it answers
#
# DIR defaults to ${XDG_DATA_HOME:-~/.local/share}/sd3mesh/redis-PORT. For silos on several hosts, bind an address
# they reach (--bind 10.0.0.5) and set REDIS_PASSWORD (it becomes requirepass; put ",password=..." after HOST:PORT in
# the config); Redis refuses clients from other hosts without a password (protected mode).
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 ]] || usage
command=$1; shift
port=6379 bind=127.0.0.1 dir=
while [[ $# -gt 0 ]]; do
  case $1 in
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --bind) bind=${2:?--bind needs a value}; shift 2 ;;
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    *) echo "redis.sh: unknown option '$1'" >&2; usage ;;
  esac
done
[[ $port =~ ^[0-9]+$ ]] && (( port >= 1 && port <= 65535 )) || { echo "redis.sh: --port '$port' is not a port (1..65535)" >&2; exit 2; }
dir=${dir:-${XDG_DATA_HOME:-$HOME/.local/share}/sd3mesh/redis-$port}
pidfile=$dir/redis.pid
host=$bind; [[ $host == 0.0.0.0 ]] && host=127.0.0.1

cli() { redis-cli -h "$host" -p "$port" ${REDIS_PASSWORD:+--no-auth-warning -a "$REDIS_PASSWORD"} "$@"; }
answers() { [[ $(cli ping 2>/dev/null) == PONG ]]; }

case $command in
  start)
    command -v redis-server >/dev/null || { echo "redis.sh: redis-server is missing (Debian: apt-get install redis-server)" >&2; exit 1; }
    if answers; then echo "redis already answers at $host:$port"; exit 0; fi
    mkdir -p "$dir"
    redis-server --port "$port" --bind "$bind" --dir "$dir" --daemonize yes --pidfile "$pidfile" --logfile "$dir/redis.log" \
      --appendonly yes --save "" ${REDIS_PASSWORD:+--requirepass "$REDIS_PASSWORD"}
    for _ in $(seq 100); do answers && { echo "redis answers at $host:$port (pid $(cat "$pidfile"), data in $dir)"; exit 0; }; sleep 0.1; done
    echo "redis.sh: redis-server did not answer at $host:$port within 10 s; its log: $dir/redis.log" >&2
    tail -n 5 "$dir/redis.log" >&2 || true
    exit 1 ;;
  stop)
    [[ -f $pidfile ]] || { echo "redis.sh: no pid file $pidfile: nothing started here" >&2; exit 1; }
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { echo "redis.sh: redis-server (pid $pid) did not stop within 10 s" >&2; exit 1; }
    fi
    rm -f "$pidfile"
    echo "redis stopped (pid $pid)" ;;
  status)
    if answers; then echo "redis answers at $host:$port"; else echo "nothing answers at $host:$port" >&2; exit 1; fi ;;
  *) usage ;;
esac
