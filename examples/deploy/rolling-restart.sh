#!/usr/bin/env bash
# Restarts the taskwire units of this host one at a time (docs/deploy.md, "Graceful deploys").
# `systemctl restart` returns once the old process has stopped gracefully and the new one is
# started; before the next unit goes down, the new one must answer /readyz.
set -euo pipefail

wait_ready() { # URL: polls /readyz for up to 60 s
  for _ in $(seq 120); do
    curl -fsS -o /dev/null "$1" && return 0
    sleep 0.5
  done
  echo "not ready: $1" >&2
  return 1
}

# Migrations first, as a release step (with the units' environment):
#   sudo -u taskwire env $(grep -v '^#' /etc/taskwire/taskwire.env | xargs) /srv/taskwire/node_modules/.bin/taskwire migrate

for unit in $(systemctl list-units --plain --no-legend 'taskwire-worker@*.service' | awk '{print $1}'); do
  n=${unit#taskwire-worker@}; n=${n%.service}
  systemctl restart "$unit"
  wait_ready "http://127.0.0.1:910${n}/readyz"
done

systemctl restart taskwire-server.service
wait_ready "http://127.0.0.1:4000/readyz"
