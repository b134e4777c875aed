#!/usr/bin/env bash
# Start, stop or query a throw-away ZooKeeper on 127.0.0.1:2181 for the tests marked `zookeeper`.
#
#   scripts/host-zookeeper.sh start|stop|status
#
# It runs the Debian `zookeeper` package's server directly with java (no systemd needed), with
# its own config and data under $DCOS_PROVISION_TEST_ZK_DIR (default /tmp/dcos-provision-test-zk).
# `start` is idempotent: if something on the port already answers `ruok` with `imok`, it does
# nothing. As root it installs the `zookeeper` and `netcat-openbsd` packages when missing.
set -euo pipefail

ZK_HOST=127.0.0.1
ZK_PORT=${DCOS_PROVISION_TEST_ZK_PORT:-2181}
BASE_DIR=${DCOS_PROVISION_TEST_ZK_DIR:-/tmp/dcos-provision-test-zk}
START_TIMEOUT=60
CONF_DIR="$BASE_DIR/conf"
DATA_DIR="$BASE_DIR/data"
PID_FILE="$BASE_DIR/zookeeper.pid"
OUT_FILE="$BASE_DIR/zookeeper.out"

say() { printf 'host-zookeeper: %s\n' "$*" >&2; }

# Four-letter-word check over bash's /dev/tcp, so it works before netcat is installed.
ruok() {
  timeout 3 bash -c "exec 3<>/dev/tcp/$ZK_HOST/$ZK_PORT && printf ruok >&3 && cat <&3" \
    2>/dev/null || true
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid=$(<"$PID_FILE")
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  # Only a process we started: java running QuorumPeerMain with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "QuorumPeerMain $CONF_DIR/zoo.cfg" || return 1
  echo "$pid"
}

ensure_packages() {
  local missing=()
  dpkg -s zookeeper >/dev/null 2>&1 || missing+=(zookeeper)
  command -v nc >/dev/null 2>&1 || missing+=(netcat-openbsd)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    say "missing packages: ${missing[*]} (run as root or: sudo apt-get install -y ${missing[*]})"
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${missing[@]}" >/dev/null || {
    apt-get update -qq && apt-get install -y "${missing[@]}" >/dev/null
  }
}

# The Debian package's classpath (conf dir + zookeeper.jar, whose manifest pulls in the rest),
# plus slf4j-simple so the server's log ends up in $OUT_FILE.
classpath() {
  local cp="/usr/share/java/zookeeper.jar"
  if [[ -r /etc/zookeeper/conf/environment ]]; then
    # shellcheck disable=SC1091
    cp=$(CLASSPATH="" && . /etc/zookeeper/conf/environment && echo "${CLASSPATH:-$cp}")
    cp=${cp//\/etc\/zookeeper\/conf/$CONF_DIR}
  fi
  [[ -r /usr/share/java/slf4j-simple.jar ]] && cp="$cp:/usr/share/java/slf4j-simple.jar"
  echo "$CONF_DIR:$cp"
}

write_config() {
  mkdir -p "$CONF_DIR" "$DATA_DIR"
  cat >"$CONF_DIR/zoo.cfg" <<EOF
# Written by scripts/host-zookeeper.sh for the dcos-provision tests.
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$DATA_DIR
clientPort=$ZK_PORT
clientPortAddress=$ZK_HOST
maxClientCnxns=0
4lw.commands.whitelist=ruok,srvr,mntr,stat
admin.enableServer=false
EOF
}

start() {
  if [[ $(ruok) == imok ]]; then
    say "already running on $ZK_HOST:$ZK_PORT"
    return 0
  fi
  ensure_packages
  command -v java >/dev/null 2>&1 || { say "java not found (install default-jre-headless)"; exit 1; }
  write_config
  local pid
  if pid=$(running_pid); then
    say "process $pid exists but does not answer yet; waiting for it"
  else
    setsid nohup java -Xmx256m -Dzookeeper.log.dir="$BASE_DIR" \
      -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$(classpath)" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$CONF_DIR/zoo.cfg" \
      >"$OUT_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until [[ $(ruok) == imok ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "ZooKeeper exited during start-up; last lines of $OUT_FILE:"
      tail -n 20 "$OUT_FILE" >&2 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      say "ZooKeeper did not answer ruok within ${START_TIMEOUT}s; see $OUT_FILE"
      exit 1
    fi
    sleep 0.5
  done
  say "running on $ZK_HOST:$ZK_PORT (pid $pid, data in $DATA_DIR)"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    say "not running (no ZooKeeper started by this script)"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$PID_FILE"
  say "stopped (pid $pid)"
}

status() {
  if [[ $(ruok) == imok ]]; then
    local pid
    pid=$(running_pid || echo "not started by this script")
    say "running on $ZK_HOST:$ZK_PORT (pid $pid)"
    return 0
  fi
  say "not running on $ZK_HOST:$ZK_PORT"
  return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
