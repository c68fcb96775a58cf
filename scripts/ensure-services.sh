#!/usr/bin/env bash
# Make sure the services the test suite talks to are installed and running:
# PostgreSQL, MariaDB, Redis and RabbitMQ, all on 127.0.0.1 with their default ports,
# and the tools the chaos tests use (iproute2 for network namespaces).
# Installs a missing one with apt-get (Debian), starts a stopped one, and waits for it.
set -u

log() { printf '[services] %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do port_open "$port" && return 0; sleep 0.5; done
  log "$name did not open port $port"; return 1
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || { log "apt-get not found; install $* by hand"; return 1; }
  if [ $apt_updated = 0 ]; then apt-get update -qq >/dev/null 2>&1; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

ensure_postgres() {
  port_open 5432 && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"; apt_install postgresql || return 1
    local hba; hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
    sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(local\s+all\s+all\s+)\S+/\1trust/' "$hba"
  fi
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1
  wait_port PostgreSQL 5432
}

ensure_mariadb() {
  port_open 3306 && return 0
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { log "installing MariaDB"; apt_install mariadb-server || return 1; }
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port MariaDB 3306 || return 1
  mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS test" 2>/dev/null || true
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server || return 1; }
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null
  wait_port Redis 6379
}

ensure_rabbitmq() {
  port_open 5672 && return 0
  command -v rabbitmq-server >/dev/null || { log "installing RabbitMQ"; apt_install rabbitmq-server || return 1; }
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1
  wait_port RabbitMQ 5672
}

ensure_tools() {
  # The partition chaos test builds test hosts with network namespaces (iproute2).
  command -v ip >/dev/null || { log "installing iproute2"; apt_install iproute2 || return 1; }
}

status=0
ensure_tools || status=1
ensure_postgres || status=1
ensure_mariadb || status=1
ensure_redis || status=1
ensure_rabbitmq || status=1
if [ $status != 0 ]; then
  log "some services are unavailable; with CI=true their tests fail rather than skip"
fi
exit 0
