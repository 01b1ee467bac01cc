#!/usr/bin/env bash
# Installs (when missing) and starts PostgreSQL and mosquitto on loopback for the PostgreSQL store tests and
# the cluster test (npm run test:cluster). Idempotent: running it again reuses what is there.
#
# Usage (from .ci/run):   eval "$(bash .ci/cluster-setup.sh)"
# Progress goes to stderr; stdout is only `export ...` lines:
#   FABRIC_TEST_PG_URL    postgres://fabric:fabric@127.0.0.1:5432/fabric_test
#   FABRIC_TEST_MQTT_URL  mqtt://127.0.0.1:11883   (mosquitto; not 1883, which the embedded broker uses by default)
# Exit status 0 even when something cannot be set up: the tests then skip with a clear message, and this
# script says why on stderr (and prints no export line for the missing part).
set -u
log() { echo "[cluster-setup] $*" >&2; }
PG_PORT=${FABRIC_CI_PG_PORT:-5432}
MQTT_PORT=${FABRIC_CI_MQTT_PORT:-11883}
STATE=${FABRIC_CI_STATE_DIR:-/tmp/ps-fabric-ci}
mkdir -p "$STATE"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else log "not root and no sudo: cannot install packages"; fi
fi

need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} (Debian packages)"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$STATE/apt.log" 2>&1; then
    log "apt-get failed (see $STATE/apt.log)"; tail -5 "$STATE/apt.log" >&2
  fi
fi

# ---------- PostgreSQL ----------
pg_ok=0
if command -v pg_lsclusters >/dev/null 2>&1; then
  read -r PGVER PGCLUSTER PGPORT_REAL PGSTATUS _ < <(pg_lsclusters --no-header 2>/dev/null | head -1) || true
  if [ -z "${PGVER:-}" ]; then
    PGVER=$(ls /usr/lib/postgresql | sort -n | tail -1); PGCLUSTER=main
    log "creating PostgreSQL $PGVER cluster $PGCLUSTER"
    $SUDO pg_createcluster -p "$PG_PORT" "$PGVER" "$PGCLUSTER" >&2
    PGPORT_REAL=$PG_PORT; PGSTATUS=down
  fi
  PG_PORT=$PGPORT_REAL
  if [ "${PGSTATUS:-down}" != "online" ]; then
    log "starting PostgreSQL $PGVER/$PGCLUSTER on 127.0.0.1:$PG_PORT"
    $SUDO pg_ctlcluster "$PGVER" "$PGCLUSTER" start >&2 || log "pg_ctlcluster start failed"
  fi
  psql_su() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -p $PG_PORT $*"; else $SUDO -u postgres psql -v ON_ERROR_STOP=1 -qAt -p "$PG_PORT" "$@"; fi; }
  for _ in $(seq 1 30); do psql_su "-c 'select 1'" >/dev/null 2>&1 && break; sleep 1; done
  if psql_su "-c 'select 1'" >/dev/null 2>&1; then
    psql_su "-c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fabric') THEN CREATE ROLE fabric LOGIN PASSWORD 'fabric' CREATEDB; END IF; END \\\$\\\$\"" >&2
    for db in fabric_test fabric_cluster; do
      if [ "$(psql_su "-c \"SELECT 1 FROM pg_database WHERE datname = '$db'\"")" != "1" ]; then
        psql_su "-c 'CREATE DATABASE $db OWNER fabric'" >&2
      fi
    done
    pg_ok=1
  else
    log "PostgreSQL does not answer on port $PG_PORT"
  fi
else
  log "PostgreSQL is not installed"
fi

# ---------- mosquitto ----------
mqtt_ok=0
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
if [ -x "$MOSQ" ]; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; then
    log "something already listens on 127.0.0.1:$MQTT_PORT (assumed to be our mosquitto)"
    mqtt_ok=1
  else
    cat >"$STATE/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
# the cluster test publishes 20,000 QoS 1 messages in bursts: do not drop queued ones for a slow or restarting subscriber
max_queued_messages 0
max_inflight_messages 100
log_dest stderr
CONF
    chmod 644 "$STATE/mosquitto.conf"
    log "starting mosquitto on 127.0.0.1:$MQTT_PORT"
    "$MOSQ" -c "$STATE/mosquitto.conf" -d 2>>"$STATE/mosquitto.err" || log "mosquitto failed to start: $(cat "$STATE/mosquitto.err")"
    for _ in $(seq 1 20); do (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null && { mqtt_ok=1; break; }; sleep 0.5; done
  fi
else
  log "mosquitto is not installed"
fi

[ $pg_ok -eq 1 ] && echo "export FABRIC_TEST_PG_URL=postgres://fabric:fabric@127.0.0.1:$PG_PORT/fabric_test"
[ $pg_ok -eq 1 ] && echo "export FABRIC_TEST_PG_CLUSTER_URL=postgres://fabric:fabric@127.0.0.1:$PG_PORT/fabric_cluster"
[ $mqtt_ok -eq 1 ] && echo "export FABRIC_TEST_MQTT_URL=mqtt://127.0.0.1:$MQTT_PORT"
log "PostgreSQL: $([ $pg_ok -eq 1 ] && echo ready || echo unavailable); mosquitto: $([ $mqtt_ok -eq 1 ] && echo ready || echo unavailable)"
exit 0
