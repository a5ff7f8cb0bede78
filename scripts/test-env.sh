#!/usr/bin/env bash
# Dockyard test environment: real Docker engines, registry, Postgres, Redis,
# Chromium. See docs/testing.md.
#
#   scripts/test-env.sh up          start/verify everything, write env.sh
#   scripts/test-env.sh status      one line per component, exit 1 if any is down
#   scripts/test-env.sh env         print the env.sh file (export lines)
#   scripts/test-env.sh down [--all]
#
# Must run as root on Debian bookworm. Idempotent: a second `up` only
# re-verifies. Details go to $DATA_DIR/logs/, the terminal stays concise.
set -Eeuo pipefail

RUN_DIR=${DOCKYARD_TEST_RUN_DIR:-/run/dockyard-test}
DATA_DIR=${DOCKYARD_TEST_DATA_DIR:-/var/lib/dockyard-test}
LOG_DIR=$DATA_DIR/logs
LOG=$LOG_DIR/test-env.log
ENV_FILE=$RUN_DIR/env.sh

MAIN_SOCK=/var/run/docker.sock
MAIN_PIDFILE=/var/run/docker.pid

NODE2_SOCK=$RUN_DIR/node2.sock
NODE2_PIDFILE=$RUN_DIR/node2.pid
NODE2_EXEC=$RUN_DIR/node2-exec      # keep short: containerd socket lives below it
NODE2_DATA=$DATA_DIR/node2
NODE2_BRIDGE=dy-node2
NODE2_BRIDGE_CIDR=172.31.250.1/24

# node3: a third engine exactly like node2 (the agent tests run `dockyard agent` against it).
NODE3_SOCK=$RUN_DIR/node3.sock
NODE3_PIDFILE=$RUN_DIR/node3.pid
NODE3_EXEC=$RUN_DIR/node3-exec
NODE3_DATA=$DATA_DIR/node3
NODE3_BRIDGE=dy-node3
NODE3_BRIDGE_CIDR=172.31.251.1/24

REG_ADDR=127.0.0.1:5000
REG_PIDFILE=$RUN_DIR/registry.pid
REG_DIR=$DATA_DIR/registry
REG_REPO=dockyard-test/app

# A second registry that requires a password (htpasswd, bcrypt), for credential tests.
AUTH_REG_ADDR=127.0.0.1:5001
AUTH_REG_PIDFILE=$RUN_DIR/registry-auth.pid
AUTH_REG_DIR=$DATA_DIR/registry-auth
AUTH_REG_USER=dockyard
AUTH_REG_PASSWORD=dockyard-secret-pw

IMAGE=dockyard-test/busybox
IMAGE_VERSIONS=(1 2)

PG_CLUSTER=main
PG_PORT=5432
PG_USER=dockyard
PG_PASSWORD=dockyard
PG_DB=dockyard_test

REDIS_PORT=6379
REDIS_PIDFILE=$RUN_DIR/redis.pid

# A test-only OpenSSH server of its own (never the system's sshd), for the web SSH terminal.
SSHD_ADDR=127.0.0.1
SSHD_PORT=2222
SSHD_DIR=$DATA_DIR/sshd
SSHD_CONFIG=$SSHD_DIR/sshd_config
SSHD_PIDFILE=$RUN_DIR/sshd.pid
SSHD_USER=dockyard-ssh
SSHD_PASSWORD=dockyard-ssh-pw
SSHD_CLIENT_KEY=$SSHD_DIR/client_ed25519

CHROMIUM=/usr/bin/chromium
TEST_LABEL=io.dockyard.test=1

PACKAGES=(ca-certificates curl iproute2 iptables docker.io docker-registry
          busybox-static postgresql redis-server chromium docker-compose apache2-utils
          openssh-server prometheus debootstrap nginx openssl wrk)

export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
# Never let the caller's Docker settings redirect us to another engine.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
cd /

# ---------------------------------------------------------------- helpers

ts() { date '+%F %T'; }
log() { { printf '[%s] %s\n' "$(ts)" "$*" >>"$LOG"; } 2>/dev/null || true; }
# step NAME MESSAGE: one concise line on the terminal (and in the log)
step() { printf '  %-9s %s\n' "$1" "$2"; log "$1: $2"; }
die() {
  local msg=$1
  printf 'test-env: error: %s\n' "$msg" >&2
  shift
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    printf -- '--- last lines of %s ---\n' "$f" >&2
    grep -v 'module=grpc' "$f" | tail -n 25 >&2 || true
  done
  log "ERROR: $msg"
  exit 1
}
on_err() {
  local rc=$? line=$1 cmd=$2
  trap - ERR
  [ "$rc" = 141 ] && exit "$rc"   # SIGPIPE: our reader went away (e.g. `| head`)
  printf 'test-env: error: command failed (exit %s, line %s): %s\n' "$rc" "$line" "$cmd" >&2
  printf 'test-env: details: %s\n' "$LOG" >&2
  [ -f "$LOG" ] && { printf -- '--- last lines of %s ---\n' "$LOG" >&2; tail -n 15 "$LOG" >&2; }
  exit "$rc"
}
trap 'on_err $LINENO "$BASH_COMMAND"' ERR

# run CMD...: run with output appended to the log file
run() { log "+ $*"; "$@" >>"$LOG" 2>&1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (try: sudo $0 $*)"; }

# spawn LOGFILE CMD...: start a daemon detached from our session/process group.
# fd 9 (the lock) is closed so the daemon does not hold it.
spawn() {
  local out=$1; shift
  log "spawn: $* (log: $out)"
  printf '\n===== %s: %s\n' "$(ts)" "$*" >>"$out"
  setsid nohup "$@" </dev/null >>"$out" 2>&1 9>&- &
  SPAWNED_PID=$!
}

# proc_running PID: the process exists and is not a zombie (our daemons are
# reparented to PID 1, which may reap them late)
proc_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# pid_alive PIDFILE COMM: the pid file names a running process called COMM
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] && proc_running "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# clear_stale PIDFILE...: remove pid files whose process is gone (or a zombie;
# dockerd would otherwise wait forever for a zombie containerd)
clear_stale() {
  local f pid
  for f in "$@"; do
    [ -e "$f" ] || continue
    pid=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
    if [ -z "$pid" ] || ! proc_running "$pid"; then
      log "removing stale pid file $f${pid:+ (pid $pid)}"
      rm -f "$f"
    fi
  done
}

# dockerd_ready SOCKET PID: engine answers; fails fast (exit 2) if PID died
dockerd_ready() {
  engine_ping "$1" && return 0
  [ -z "$2" ] || proc_running "$2" || return 2
  return 1
}

# wait_dockerd SECONDS SOCKET PID
wait_dockerd() {
  local end=$((SECONDS + $1)) rc
  while :; do
    rc=0; dockerd_ready "$2" "$3" || rc=$?
    [ "$rc" = 0 ] && return 0
    [ "$rc" = 2 ] && return 2
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.2
  done
}

# stop_pidfile PIDFILE COMM TIMEOUT: TERM, wait, then KILL
stop_pidfile() {
  local f=$1 comm=$2 timeout=$3 pid t=0
  if pid_alive "$f" "$comm"; then
    pid=$(tr -dc '0-9' <"$f")
    log "stopping $comm (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while proc_running "$pid" && [ "$t" -lt $((timeout * 10)) ]; do sleep 0.1; t=$((t + 1)); done
    if proc_running "$pid"; then
      log "$comm (pid $pid) ignored TERM for ${timeout}s, killing"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$f"
}

# wait_for SECONDS CMD...: poll CMD until it succeeds
wait_for() {
  local timeout=$1; shift
  local end=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.2
  done
}

have_systemd() { [ -d /run/systemd/system ]; }

docker_bin() { if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi; }
dk()  { "$DOCKER" -H "unix://$MAIN_SOCK" "$@"; }
dk2() { "$DOCKER" -H "unix://$NODE2_SOCK" "$@"; }
dk3() { "$DOCKER" -H "unix://$NODE3_SOCK" "$@"; }
engine_ping() { [ -S "$1" ] && [ "$(curl -s --max-time 3 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]; }

registry_ping() { curl -sf --max-time 3 -o /dev/null "http://$REG_ADDR/v2/"; }
registry_has() {
  curl -sfI --max-time 3 -o /dev/null \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REG_ADDR/v2/$REG_REPO/manifests/$1"
}
auth_registry_ping() {
  curl -sf --max-time 3 -o /dev/null -u "$AUTH_REG_USER:$AUTH_REG_PASSWORD" "http://$AUTH_REG_ADDR/v2/"
}
port_busy() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
port_free() { ! port_busy "$1"; }
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\).*/\1/p' | head -n1; }
port_pid() { ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("[^"]*",pid=\([0-9]*\).*/\1/p' | head -n1; }

# Debian's own docker-registry service (default config: :5000 with htpasswd
# auth) may have been started by apt. Stop it; its config is left untouched.
stop_debian_registry() {
  local pid port=${REG_ADDR##*:}
  pid=$(port_pid "$port")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = docker-registry ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '/etc/docker/registry/config.yml' || return 1
  log "port $port is held by Debian's docker-registry service (pid $pid); stopping it"
  if have_systemd; then
    run systemctl stop docker-registry.service || true
  else
    run /etc/init.d/docker-registry stop || true
  fi
  if proc_running "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  wait_for 10 port_free "$port" || return 1
  step registry "note: stopped Debian's docker-registry service, which held :$port"
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# sshd_ok: the test user logs in to the test sshd with the test key and runs a command
sshd_ok() {
  [ -s "$SSHD_CLIENT_KEY" ] || return 1
  [ "$(ssh -F none -i "$SSHD_CLIENT_KEY" -p "$SSHD_PORT" -o BatchMode=yes -o ConnectTimeout=3 \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        "$SSHD_USER@$SSHD_ADDR" 'echo dockyard-sshd-ok' </dev/null 2>/dev/null)" = dockyard-sshd-ok ]
}

pg_version() {
  local v
  v=$(pg_lsclusters -h 2>/dev/null | awk -v c="$PG_CLUSTER" '$2 == c { print $1; exit }')
  if [ -z "$v" ] && [ -d /usr/lib/postgresql ]; then
    v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
  fi
  echo "$v"
}
pg_field() { pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="$PG_CLUSTER" -v f="$2" '$1 == v && $2 == c { print $f; exit }'; }
pg_app_ok() {
  [ "$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=3 psql -X -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -tAc \
     'select rolcreatedb from pg_roles where rolname = current_user' 2>/dev/null)" = t ]
}

init_dirs() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  chmod 755 "$RUN_DIR" "$DATA_DIR"
}

lock() {
  exec 9>"$RUN_DIR/lock"
  flock -w 600 9 || die "another test-env.sh is still running (lock $RUN_DIR/lock)"
}

# ---------------------------------------------------------------- up steps

ensure_packages() {
  local -A st=()
  local p s missing=()
  while IFS='|' read -r p s; do st[$p]=$s; done \
    < <(dpkg-query -W -f='${Package}|${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
  for p in "${PACKAGES[@]}"; do
    [ "${st[$p]:-}" = "install ok installed" ] || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    step packages ok
    return
  fi
  step packages "installing: ${missing[*]} (log: $LOG)"
  export DEBIAN_FRONTEND=noninteractive
  run apt-get -o DPkg::Lock::Timeout=600 update -q \
    || die "apt-get update failed" "$LOG"
  run apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed" "$LOG"
  step packages "ok (installed ${#missing[@]})"
}

ensure_main_engine() {
  local t0=$SECONDS how=started pid="" rc=0
  if engine_ping "$MAIN_SOCK"; then
    step docker "ok ($MAIN_SOCK)"
    return
  fi
  if have_systemd; then
    run systemctl start docker.service || true
    how="started (systemd)"
  elif pid_alive "$MAIN_PIDFILE" dockerd; then
    pid=$(tr -dc '0-9' <"$MAIN_PIDFILE")
    how="was starting (pid $pid)"
  else
    clear_stale "$MAIN_PIDFILE" /var/run/docker/containerd/containerd.pid
    spawn "$LOG_DIR/dockerd.log" dockerd
    pid=$SPAWNED_PID
  fi
  wait_dockerd 60 "$MAIN_SOCK" "$pid" || rc=$?
  [ "$rc" = 2 ] && die "main dockerd exited during startup" "$LOG_DIR/dockerd.log"
  [ "$rc" = 0 ] || die "main dockerd ($how) did not become ready within 60 s on $MAIN_SOCK" "$LOG_DIR/dockerd.log"
  step docker "ok ($how in $((SECONDS - t0)) s)"
}

build_image() {
  local v=$1 root p
  root=$(mktemp -d "$DATA_DIR/rootfs.XXXXXX")
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,www,var/tmp,var/www,run,proc,sys,dev}
  install -d -m 1777 "$root/tmp"
  chmod 700 "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  while read -r p; do
    case $p in */*) ;; *) continue ;; esac       # skip "linuxrc" etc.
    [ "$p" = bin/busybox ] && continue
    ln -sf /bin/busybox "$root/$p"
  done < <(/bin/busybox --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  printf 'dockyard-test\n' >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"
  printf '%s\n' "$v" >"$root/etc/dockyard-test-version"
  # `httpd -f -p 80` serves the cwd (/ by default): GET / answers with the version.
  printf 'dockyard-test v%s\n' "$v" >"$root/www/index.html"
  ln -s www/index.html "$root/index.html"
  log "importing $IMAGE:$v from $root"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -c . \
    | dk import \
        --change 'CMD ["sh"]' \
        --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "LABEL org.opencontainers.image.version=$v" \
        --message "dockyard test image v$v (busybox-static)" \
        - "$IMAGE:$v" >>"$LOG" 2>&1 \
    || { rm -rf "$root"; die "docker import of $IMAGE:$v failed" "$LOG"; }
  rm -rf "$root"
}

ensure_images() {
  local v built=()
  for v in "${IMAGE_VERSIONS[@]}"; do
    dk image inspect "$IMAGE:$v" >/dev/null 2>&1 && continue
    build_image "$v"
    built+=(":$v")
  done
  if [ "${#built[@]}" -eq 0 ]; then
    step images "ok ($IMAGE:1, :2)"
  else
    step images "ok (built $IMAGE${built[*]})"
  fi
}

write_registry_config() {
  mkdir -p "$REG_DIR/data"
  cat >"$REG_DIR/config.yml" <<EOF
# Generated by scripts/test-env.sh -- test-only registry, no auth, no TLS.
version: 0.1
log:
  level: info
  fields:
    service: dockyard-test-registry
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
  # no blobdescriptor cache: it returns stale results after deletes
http:
  addr: $REG_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
}

registry_binary() {
  local b
  b=$(dpkg -L docker-registry 2>/dev/null | grep -E '/bin/docker-registry$|/bin/registry$' | head -n1 || true)
  [ -n "$b" ] && [ -x "$b" ] || b=$(command -v docker-registry || true)
  [ -n "$b" ] || die "docker-registry binary not found (is the docker-registry package installed?)"
  echo "$b"
}

ensure_registry() {
  local how=running v pushed=() bin
  if ! registry_ping; then
    if port_busy "${REG_ADDR##*:}" && ! stop_debian_registry; then
      die "port ${REG_ADDR##*:} is taken by $(port_owner "${REG_ADDR##*:}") which is not a usable registry (http://$REG_ADDR/v2/ does not answer 200); stop that process and re-run up"
    fi
    bin=$(registry_binary)
    stop_pidfile "$REG_PIDFILE" docker-registry 5
    write_registry_config
    spawn "$LOG_DIR/registry.log" "$bin" serve "$REG_DIR/config.yml"
    echo "$SPAWNED_PID" >"$REG_PIDFILE"
    wait_for 30 registry_ping \
      || die "registry did not answer on http://$REG_ADDR/v2/ within 30 s" "$LOG_DIR/registry.log"
    how=started
  elif ! pid_alive "$REG_PIDFILE" docker-registry; then
    how="reusing registry not started by this script"
  fi
  for v in "${IMAGE_VERSIONS[@]}"; do
    registry_has "$v" && continue
    run dk tag "$IMAGE:$v" "$REG_ADDR/$REG_REPO:$v"
    run dk push "$REG_ADDR/$REG_REPO:$v" || die "docker push $REG_ADDR/$REG_REPO:$v failed" "$LOG"
    pushed+=("app:$v")
  done
  [ "${#pushed[@]}" -eq 0 ] || how="$how, pushed ${pushed[*]}"
  step registry "ok ($REG_ADDR, $how)"
}

write_auth_registry_config() {
  mkdir -p "$AUTH_REG_DIR/data"
  cat >"$AUTH_REG_DIR/config.yml" <<EOF
# Generated by scripts/test-env.sh -- test-only registry with htpasswd auth, no TLS.
version: 0.1
log:
  level: info
  fields:
    service: dockyard-test-registry-auth
storage:
  filesystem:
    rootdirectory: $AUTH_REG_DIR/data
  delete:
    enabled: true
auth:
  htpasswd:
    realm: dockyard-test
    path: $AUTH_REG_DIR/htpasswd
http:
  addr: $AUTH_REG_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

ensure_auth_registry() {
  local how=running bin
  # htpasswd -v exits non-zero when the file or the password does not match.
  if ! htpasswd -vb "$AUTH_REG_DIR/htpasswd" "$AUTH_REG_USER" "$AUTH_REG_PASSWORD" >/dev/null 2>&1; then
    mkdir -p "$AUTH_REG_DIR"
    htpasswd -Bbn "$AUTH_REG_USER" "$AUTH_REG_PASSWORD" >"$AUTH_REG_DIR/htpasswd.tmp" \
      || die "htpasswd failed (is apache2-utils installed?)"
    mv -f "$AUTH_REG_DIR/htpasswd.tmp" "$AUTH_REG_DIR/htpasswd"
    # A running registry reads the file once: restart it below.
    stop_pidfile "$AUTH_REG_PIDFILE" docker-registry 5
  fi
  if ! auth_registry_ping; then
    if port_busy "${AUTH_REG_ADDR##*:}" && ! pid_alive "$AUTH_REG_PIDFILE" docker-registry; then
      die "port ${AUTH_REG_ADDR##*:} is taken by $(port_owner "${AUTH_REG_ADDR##*:}"), not the test registry with auth; stop that process and re-run up"
    fi
    bin=$(registry_binary)
    stop_pidfile "$AUTH_REG_PIDFILE" docker-registry 5
    write_auth_registry_config
    spawn "$LOG_DIR/registry-auth.log" "$bin" serve "$AUTH_REG_DIR/config.yml"
    echo "$SPAWNED_PID" >"$AUTH_REG_PIDFILE"
    wait_for 30 auth_registry_ping \
      || die "registry with auth did not answer on http://$AUTH_REG_ADDR/v2/ within 30 s" "$LOG_DIR/registry-auth.log"
    how=started
  fi
  step regauth "ok ($AUTH_REG_ADDR, htpasswd user $AUTH_REG_USER, $how)"
}

ensure_node2_bridge() {
  if ! ip link show "$NODE2_BRIDGE" >/dev/null 2>&1; then
    run ip link add "$NODE2_BRIDGE" type bridge
  fi
  if [[ "$(ip -4 addr show dev "$NODE2_BRIDGE")" != *" $NODE2_BRIDGE_CIDR "* ]]; then
    run ip addr add "$NODE2_BRIDGE_CIDR" dev "$NODE2_BRIDGE"
  fi
  ip link set "$NODE2_BRIDGE" up
}

ensure_node2() {
  local t0=$SECONDS how=running v missing=() pid="" rc=0
  ensure_node2_bridge
  if ! engine_ping "$NODE2_SOCK"; then
    if pid_alive "$NODE2_PIDFILE" dockerd; then
      pid=$(tr -dc '0-9' <"$NODE2_PIDFILE")
      how="was starting (pid $pid)"
    else
      clear_stale "$NODE2_PIDFILE" "$NODE2_EXEC/containerd/containerd.pid"
      mkdir -p "$NODE2_DATA" "$NODE2_EXEC"
      # node2 runs its own supervised containerd under --exec-root (separate
      # state, socket and runc root from the main engine's containerd).
      # Do NOT add --bridge=none or --default-address-pool here: with either,
      # dockerd deletes the interface named "docker0" (the main engine's bridge)
      # at startup.
      spawn "$LOG_DIR/node2-dockerd.log" dockerd \
        --data-root "$NODE2_DATA" \
        --exec-root "$NODE2_EXEC" \
        --pidfile "$NODE2_PIDFILE" \
        -H "unix://$NODE2_SOCK" \
        --bridge="$NODE2_BRIDGE" \
        --iptables=false --ip6tables=false
      pid=$SPAWNED_PID
      how=started
    fi
    wait_dockerd 60 "$NODE2_SOCK" "$pid" || rc=$?
    [ "$rc" = 2 ] && die "node2 dockerd exited during startup" "$LOG_DIR/node2-dockerd.log"
    [ "$rc" = 0 ] || die "node2 dockerd ($how) did not become ready within 60 s on $NODE2_SOCK" "$LOG_DIR/node2-dockerd.log"
    how="$how in $((SECONDS - t0)) s"
  fi
  for v in "${IMAGE_VERSIONS[@]}"; do
    dk2 image inspect "$IMAGE:$v" >/dev/null 2>&1 || missing+=("$IMAGE:$v")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "loading ${missing[*]} into node2"
    dk save "${missing[@]}" | dk2 load >>"$LOG" 2>&1 || die "loading test images into node2 failed" "$LOG"
    how="$how, loaded ${#missing[@]} image(s)"
  fi
  step node2 "ok ($NODE2_SOCK, $how)"
}

ensure_node3_bridge() {
  if ! ip link show "$NODE3_BRIDGE" >/dev/null 2>&1; then
    run ip link add "$NODE3_BRIDGE" type bridge
  fi
  if [[ "$(ip -4 addr show dev "$NODE3_BRIDGE")" != *" $NODE3_BRIDGE_CIDR "* ]]; then
    run ip addr add "$NODE3_BRIDGE_CIDR" dev "$NODE3_BRIDGE"
  fi
  ip link set "$NODE3_BRIDGE" up
}

ensure_node3() {
  # Same as ensure_node2 (see the notes there), for the third engine.
  local t0=$SECONDS how=running v missing=() pid="" rc=0
  ensure_node3_bridge
  if ! engine_ping "$NODE3_SOCK"; then
    if pid_alive "$NODE3_PIDFILE" dockerd; then
      pid=$(tr -dc '0-9' <"$NODE3_PIDFILE")
      how="was starting (pid $pid)"
    else
      clear_stale "$NODE3_PIDFILE" "$NODE3_EXEC/containerd/containerd.pid"
      mkdir -p "$NODE3_DATA" "$NODE3_EXEC"
      spawn "$LOG_DIR/node3-dockerd.log" dockerd \
        --data-root "$NODE3_DATA" \
        --exec-root "$NODE3_EXEC" \
        --pidfile "$NODE3_PIDFILE" \
        -H "unix://$NODE3_SOCK" \
        --bridge="$NODE3_BRIDGE" \
        --iptables=false --ip6tables=false
      pid=$SPAWNED_PID
      how=started
    fi
    wait_dockerd 60 "$NODE3_SOCK" "$pid" || rc=$?
    [ "$rc" = 2 ] && die "node3 dockerd exited during startup" "$LOG_DIR/node3-dockerd.log"
    [ "$rc" = 0 ] || die "node3 dockerd ($how) did not become ready within 60 s on $NODE3_SOCK" "$LOG_DIR/node3-dockerd.log"
    how="$how in $((SECONDS - t0)) s"
  fi
  for v in "${IMAGE_VERSIONS[@]}"; do
    dk3 image inspect "$IMAGE:$v" >/dev/null 2>&1 || missing+=("$IMAGE:$v")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "loading ${missing[*]} into node3"
    dk save "${missing[@]}" | dk3 load >>"$LOG" 2>&1 || die "loading test images into node3 failed" "$LOG"
    how="$how, loaded ${#missing[@]} image(s)"
  fi
  step node3 "ok ($NODE3_SOCK, $how)"
}

check_docker0() {
  ip link show docker0 >/dev/null 2>&1 \
    || die "the main engine's docker0 bridge is missing (a dockerd started with --bridge=none or --default-address-pool deletes it); restart the main dockerd to recreate it"
}

ensure_postgres() {
  local ver status port how=running lf
  ver=$(pg_version)
  [ -n "$ver" ] || die "no PostgreSQL installation found under /usr/lib/postgresql"
  if [ -z "$(pg_field "$ver" 2)" ]; then
    run pg_createcluster -p "$PG_PORT" "$ver" "$PG_CLUSTER" || die "pg_createcluster $ver $PG_CLUSTER failed" "$LOG"
  fi
  port=$(pg_field "$ver" 3)
  [ "$port" = "$PG_PORT" ] || die "PostgreSQL cluster $ver/$PG_CLUSTER is configured for port $port, expected $PG_PORT"
  status=$(pg_field "$ver" 4)
  lf=/var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log
  if [ "${status%%,*}" != online ]; then
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    if ! run pg_ctlcluster "$ver" "$PG_CLUSTER" start 9>&-; then
      # "already running" (a race with another starter) is fine
      [ "$(pg_field "$ver" 4 | cut -d, -f1)" = online ] || die "pg_ctlcluster $ver $PG_CLUSTER start failed" "$LOG" "$lf"
    fi
    how=started
  fi
  wait_for 30 pg_isready -q -h 127.0.0.1 -p "$PG_PORT" \
    || die "PostgreSQL is not accepting connections on 127.0.0.1:$PG_PORT" "$lf"
  if ! pg_app_ok; then
    log "creating/updating role $PG_USER and database $PG_DB"
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres >>"$LOG" 2>&1 <<SQL \
      || die "creating the $PG_USER role / $PG_DB database failed" "$LOG"
SELECT format('CREATE ROLE %I', '$PG_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') \gexec
ALTER ROLE $PG_USER WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DB', '$PG_USER')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB') \gexec
ALTER DATABASE $PG_DB OWNER TO $PG_USER;
SQL
    pg_app_ok || die "cannot log in to $PG_DB as $PG_USER over TCP (check pg_hba.conf)" "$lf"
    how="$how, role/db created"
  fi
  step postgres "ok (127.0.0.1:$PG_PORT/$PG_DB, PostgreSQL $ver, $how)"
}

ensure_redis() {
  local how=running
  if ! redis_ping; then
    port_busy "$REDIS_PORT" && die "port $REDIS_PORT is taken by $(port_owner "$REDIS_PORT") which does not answer redis PING"
    mkdir -p "$DATA_DIR/redis"
    rm -f "$REDIS_PIDFILE"
    run redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
      --pidfile "$REDIS_PIDFILE" --logfile "$LOG_DIR/redis.log" \
      --dir "$DATA_DIR/redis" --save '' --appendonly no 9>&- \
      || die "redis-server failed to start" "$LOG" "$LOG_DIR/redis.log"
    wait_for 10 redis_ping || die "redis did not answer PING on 127.0.0.1:$REDIS_PORT within 10 s" "$LOG_DIR/redis.log"
    how=started
  fi
  step redis "ok (127.0.0.1:$REDIS_PORT, $how)"
}

# Installing openssh-server starts Debian's own sshd on port 22, which the tests do not need:
# when this script is the one installing the package, this file (honoured by the package's
# init script and systemd unit) keeps that service off. An existing install is left alone.
prevent_debian_sshd() {
  dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q '^install ok installed$' && return 0
  [ -e /etc/ssh/sshd_not_to_be_run ] && return 0
  mkdir -p /etc/ssh
  : >/etc/ssh/sshd_not_to_be_run
  log "created /etc/ssh/sshd_not_to_be_run: Debian's ssh service stays off"
}

write_sshd_config() {
  cat >"$SSHD_CONFIG.tmp" <<EOF
# Generated by scripts/test-env.sh -- test-only sshd: loopback, one user, its own keys.
ListenAddress $SSHD_ADDR
Port $SSHD_PORT
HostKey $SSHD_DIR/ssh_host_ed25519_key
HostKey $SSHD_DIR/ssh_host_rsa_key
PidFile $SSHD_PIDFILE
AuthorizedKeysFile $SSHD_DIR/authorized_keys
AllowUsers $SSHD_USER
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
StrictModes yes
# Forwarding only to itself: the bastion (jump host) tests tunnel through this server.
AllowTcpForwarding yes
PermitOpen $SSHD_ADDR:$SSHD_PORT
AllowAgentForwarding no
X11Forwarding no
PrintMotd no
MaxStartups 50:30:100
LogLevel VERBOSE
EOF
  if cmp -s "$SSHD_CONFIG.tmp" "$SSHD_CONFIG"; then
    rm -f "$SSHD_CONFIG.tmp"
    return 1
  fi
  mv -f "$SSHD_CONFIG.tmp" "$SSHD_CONFIG"
}

ensure_sshd() {
  local how=running t
  if ! getent passwd "$SSHD_USER" >/dev/null; then
    run useradd --create-home --shell /bin/bash --comment 'Dockyard SSH test user' "$SSHD_USER" \
      || die "useradd $SSHD_USER failed" "$LOG"
  fi
  # A password too (the account must not be locked; the password-auth tests use it).
  printf '%s:%s\n' "$SSHD_USER" "$SSHD_PASSWORD" | chpasswd || die "chpasswd for $SSHD_USER failed"
  install -d -m 755 "$SSHD_DIR"
  for t in ed25519 rsa; do
    [ -s "$SSHD_DIR/ssh_host_${t}_key" ] && continue
    rm -f "$SSHD_DIR/ssh_host_${t}_key" "$SSHD_DIR/ssh_host_${t}_key.pub"
    run ssh-keygen -q -t "$t" -N '' -C dockyard-test-sshd -f "$SSHD_DIR/ssh_host_${t}_key"
  done
  if [ ! -s "$SSHD_CLIENT_KEY" ]; then
    rm -f "$SSHD_CLIENT_KEY" "$SSHD_CLIENT_KEY.pub"
    run ssh-keygen -q -t ed25519 -N '' -C dockyard-test-client -f "$SSHD_CLIENT_KEY"
  fi
  install -m 644 "$SSHD_CLIENT_KEY.pub" "$SSHD_DIR/authorized_keys"
  # A running sshd reads its config once: restart it when the config changed.
  if write_sshd_config && pid_alive "$SSHD_PIDFILE" sshd; then
    stop_pidfile "$SSHD_PIDFILE" sshd 5
  fi
  # sshd's privilege separation directory (normally made by the package's service).
  install -d -m 755 /run/sshd
  if ! sshd_ok; then
    if port_busy "$SSHD_PORT" && ! pid_alive "$SSHD_PIDFILE" sshd; then
      die "port $SSHD_PORT is taken by $(port_owner "$SSHD_PORT"), not the test sshd; stop that process and re-run up"
    fi
    stop_pidfile "$SSHD_PIDFILE" sshd 5
    /usr/sbin/sshd -t -f "$SSHD_CONFIG" >>"$LOG" 2>&1 || die "the test sshd config is invalid" "$LOG"
    spawn "$LOG_DIR/sshd.log" /usr/sbin/sshd -D -e -f "$SSHD_CONFIG"
    wait_for 15 sshd_ok \
      || die "the test sshd did not accept the test key on $SSHD_ADDR:$SSHD_PORT within 15 s" "$LOG_DIR/sshd.log"
    how=started
  fi
  step sshd "ok ($SSHD_ADDR:$SSHD_PORT, user $SSHD_USER, $how)"
}

ensure_chromium() {
  local v
  [ -x "$CHROMIUM" ] || die "$CHROMIUM is missing (package chromium)"
  v=$("$CHROMIUM" --version 2>/dev/null | awk 'NR == 1 { print $1, $2 }') || die "$CHROMIUM --version failed"
  [ -n "$v" ] || die "$CHROMIUM --version printed nothing"
  step chromium "ok ($v)"
}

write_env() {
  local tmp=$ENV_FILE.tmp
  cat >"$tmp" <<EOF
export DOCKYARD_TEST_DOCKER_HOST=unix://$MAIN_SOCK
export DOCKYARD_TEST_NODE2_DOCKER_HOST=unix://$NODE2_SOCK
export DOCKYARD_TEST_NODE3_DOCKER_HOST=unix://$NODE3_SOCK
export DOCKYARD_TEST_REGISTRY=$REG_ADDR
export DOCKYARD_TEST_IMAGE=$IMAGE:1
export DOCKYARD_TEST_IMAGE_V2=$IMAGE:2
export DOCKYARD_TEST_REGISTRY_IMAGE=$REG_ADDR/$REG_REPO
export DOCKYARD_TEST_REGISTRY_LOG=$LOG_DIR/registry.log
export DOCKYARD_TEST_AUTH_REGISTRY=$AUTH_REG_ADDR
export DOCKYARD_TEST_AUTH_REGISTRY_USER=$AUTH_REG_USER
export DOCKYARD_TEST_AUTH_REGISTRY_PASSWORD=$AUTH_REG_PASSWORD
export DOCKYARD_TEST_AUTH_REGISTRY_LOG=$LOG_DIR/registry-auth.log
export DOCKYARD_TEST_POSTGRES_URL=postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB
export DOCKYARD_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export DOCKYARD_TEST_CHROMIUM=$CHROMIUM
export DOCKYARD_TEST_SSH_HOST=$SSHD_ADDR
export DOCKYARD_TEST_SSH_PORT=$SSHD_PORT
export DOCKYARD_TEST_SSH_USER=$SSHD_USER
export DOCKYARD_TEST_SSH_KEY=$SSHD_CLIENT_KEY
export DOCKYARD_TEST_SSH_PASSWORD=$SSHD_PASSWORD
export DOCKYARD_TEST_SSH_HOST_KEY_DIR=$SSHD_DIR
export DOCKYARD_TEST_SSH_LOG=$LOG_DIR/sshd.log
EOF
  mv -f "$tmp" "$ENV_FILE"
}

cmd_up() {
  need_root up
  init_dirs
  lock
  local t0=$SECONDS
  log "===== up"
  echo "dockyard test env: up (logs: $LOG_DIR)"
  prevent_debian_sshd
  ensure_packages
  DOCKER=$(docker_bin)
  ensure_main_engine
  ensure_images
  ensure_registry
  ensure_auth_registry
  ensure_node2
  ensure_node3
  check_docker0
  ensure_postgres
  ensure_redis
  ensure_sshd
  ensure_chromium
  write_env
  log "up done in $((SECONDS - t0)) s"
  echo "dockyard test env is up ($((SECONDS - t0)) s). Variables ($ENV_FILE):"
  cat "$ENV_FILE"
}

# ---------------------------------------------------------------- down

remove_test_objects() {
  # remove_test_objects CLI-FUNCTION NAME
  local fn=$1 name=$2 ids=()
  mapfile -t ids < <($fn ps -aq --filter "label=$TEST_LABEL" 2>/dev/null || true)
  [ "${#ids[@]}" -eq 0 ] || { run "$fn" rm -f -v "${ids[@]}" || true; }
  mapfile -t ids < <($fn network ls -q --filter "label=$TEST_LABEL" 2>/dev/null || true)
  [ "${#ids[@]}" -eq 0 ] || { run "$fn" network rm "${ids[@]}" || true; }
  mapfile -t ids < <($fn volume ls -q --filter "label=$TEST_LABEL" 2>/dev/null || true)
  [ "${#ids[@]}" -eq 0 ] || { run "$fn" volume rm -f "${ids[@]}" || true; }
  log "$name: removed objects labelled $TEST_LABEL"
}

cmd_down() {
  local all=0
  case "${1:-}" in
    --all) all=1 ;;
    "") ;;
    *) die "unknown option for down: $1 (usage: down [--all])" ;;
  esac
  need_root down
  init_dirs
  lock
  log "===== down (all=$all)"
  DOCKER=$(docker_bin)
  echo "dockyard test env: down${1:+ $1}"

  if engine_ping "$NODE2_SOCK"; then remove_test_objects dk2 node2; fi
  if engine_ping "$NODE3_SOCK"; then remove_test_objects dk3 node3; fi
  if engine_ping "$MAIN_SOCK"; then remove_test_objects dk docker; fi
  step cleanup "removed containers/networks/volumes labelled $TEST_LABEL"

  stop_pidfile "$NODE2_PIDFILE" dockerd 30
  rm -f "$NODE2_SOCK"
  # dockerd bind-mounts its data-root onto itself (mount propagation) and does
  # not always undo it; unmount so the directory can be removed.
  local _
  for _ in 1 2 3; do
    mountpoint -q "$NODE2_DATA" 2>/dev/null || break
    run umount "$NODE2_DATA" || { log "could not unmount $NODE2_DATA"; break; }
  done
  if ip link show "$NODE2_BRIDGE" >/dev/null 2>&1; then run ip link del "$NODE2_BRIDGE" || true; fi
  step node2 stopped

  stop_pidfile "$NODE3_PIDFILE" dockerd 30
  rm -f "$NODE3_SOCK"
  for _ in 1 2 3; do
    mountpoint -q "$NODE3_DATA" 2>/dev/null || break
    run umount "$NODE3_DATA" || { log "could not unmount $NODE3_DATA"; break; }
  done
  if ip link show "$NODE3_BRIDGE" >/dev/null 2>&1; then run ip link del "$NODE3_BRIDGE" || true; fi
  step node3 stopped

  if [ -s "$REG_PIDFILE" ]; then
    stop_pidfile "$REG_PIDFILE" docker-registry 10
    step registry stopped
  elif registry_ping; then
    step registry "left running (not started by this script)"
  else
    step registry stopped
  fi

  if [ -s "$AUTH_REG_PIDFILE" ]; then
    stop_pidfile "$AUTH_REG_PIDFILE" docker-registry 10
  fi
  step regauth stopped

  stop_pidfile "$SSHD_PIDFILE" sshd 10
  step sshd stopped

  if [ "$all" = 1 ]; then
    if have_systemd; then
      run systemctl stop docker.service docker.socket || true
    else
      stop_pidfile "$MAIN_PIDFILE" dockerd 60
    fi
    step docker stopped

    local ver
    ver=$(pg_version)
    if [ -n "$ver" ] && [ "$(pg_field "$ver" 4 | cut -d, -f1)" = online ]; then
      run pg_ctlcluster "$ver" "$PG_CLUSTER" stop || die "pg_ctlcluster $ver $PG_CLUSTER stop failed" "$LOG"
    fi
    step postgres stopped

    if pid_alive "$REDIS_PIDFILE" redis-server; then
      stop_pidfile "$REDIS_PIDFILE" redis-server 10
    elif redis_ping; then
      run redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave || true
    fi
    rm -f "$REDIS_PIDFILE"
    step redis stopped
  fi
  rm -f "$ENV_FILE"
  echo "done."
}

# ---------------------------------------------------------------- status

cmd_status() {
  local bad=0 v ver line
  DOCKER=$(docker_bin 2>/dev/null || echo docker)
  report() { # report NAME OK? DETAIL
    if [ "$2" = 0 ]; then printf '%-9s ok    %s\n' "$1" "$3"; else printf '%-9s down  %s\n' "$1" "$3"; bad=1; fi
  }
  engine_ping "$MAIN_SOCK"; report docker $? "unix://$MAIN_SOCK"
  ip link show docker0 >/dev/null 2>&1; report docker0 $? "main engine bridge"
  line=0
  for v in "${IMAGE_VERSIONS[@]}"; do dk image inspect "$IMAGE:$v" >/dev/null 2>&1 || line=1; done
  report images $line "$IMAGE:1, :2 on the main engine"
  line=0
  engine_ping "$NODE2_SOCK" || line=1
  for v in "${IMAGE_VERSIONS[@]}"; do [ "$line" = 1 ] || dk2 image inspect "$IMAGE:$v" >/dev/null 2>&1 || line=1; done
  report node2 $line "unix://$NODE2_SOCK (bridge $NODE2_BRIDGE, test images loaded)"
  line=0
  engine_ping "$NODE3_SOCK" || line=1
  for v in "${IMAGE_VERSIONS[@]}"; do [ "$line" = 1 ] || dk3 image inspect "$IMAGE:$v" >/dev/null 2>&1 || line=1; done
  report node3 $line "unix://$NODE3_SOCK (bridge $NODE3_BRIDGE, test images loaded)"
  line=0
  registry_ping || line=1
  for v in "${IMAGE_VERSIONS[@]}"; do registry_has "$v" || line=1; done
  report registry $line "http://$REG_ADDR ($REG_REPO:1, :2)"
  auth_registry_ping; report regauth $? "http://$AUTH_REG_ADDR (htpasswd user $AUTH_REG_USER)"
  pg_app_ok; report postgres $? "127.0.0.1:$PG_PORT/$PG_DB as $PG_USER"
  redis_ping; report redis $? "127.0.0.1:$REDIS_PORT"
  sshd_ok; report sshd $? "$SSHD_ADDR:$SSHD_PORT (user $SSHD_USER, key $SSHD_CLIENT_KEY)"
  ver=$("$CHROMIUM" --version 2>/dev/null | awk 'NR == 1 { print $1, $2 }' || true)
  [ -n "$ver" ]; report chromium $? "$CHROMIUM${ver:+ ($ver)}"
  [ -s "$ENV_FILE" ]; report env $? "$ENV_FILE"
  if [ "$bad" != 0 ] && [ "$(id -u)" != 0 ]; then
    echo "(not running as root: the Docker sockets may just be inaccessible)"
  fi
  return "$bad"
}

cmd_env() {
  [ -s "$ENV_FILE" ] || die "$ENV_FILE not found: run 'scripts/test-env.sh up' first"
  cat "$ENV_FILE"
}

usage() {
  cat <<EOF
usage: $(basename "$0") up | down [--all] | status | env

  up           install missing packages, start and verify the test environment,
               write and print $ENV_FILE (idempotent)
  down         remove test containers (label $TEST_LABEL), stop node2, node3, registries, sshd
  down --all   ... and also the main dockerd, PostgreSQL and Redis
  status       one line per component; exit 1 if anything is down
  env          print $ENV_FILE  (eval "\$($(basename "$0") env)")

logs: $LOG_DIR
EOF
}

case "${1:-}" in
  up) shift; [ $# -eq 0 ] || die "up takes no arguments"; cmd_up ;;
  down) shift; cmd_down "$@" ;;
  status) set +e; trap - ERR; cmd_status; exit $? ;;
  env) cmd_env ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
