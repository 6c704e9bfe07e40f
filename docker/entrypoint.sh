#!/bin/sh
# The image's entrypoint: `docker run switchboard <role> [arguments]` runs one role of the
# platform. The role picks the entry script; the arguments pass through (e.g. `worker --help`,
# `switchboard status`). `exec` makes node PID 1, so SIGTERM from `docker stop` reaches the
# daemon and it drains. The application directory is this script's parent, so the same script
# runs from a checkout (the tests call it with a stand-in node on PATH).
set -eu

app=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
roles='controller queue worker sip-edge migrate switchboard'

usage() {
  cat <<USAGE
usage: <image> <role> [arguments]

roles:
  controller   infrastructure controller and management API
  queue        AMQP bus and the bridge from events to jobs
  worker       background task daemon
  sip-edge     SIP edge (needs a drachtio-server)
  migrate      apply the schema migrations to the SQL primary, then exit
  switchboard  the operators' CLI over the controller's API

A daemon lists its variables with --help, e.g. <image> worker --help.
USAGE
}

if [ "$#" -eq 0 ]; then
  usage >&2
  exit 64
fi

role=$1
shift
case "$role" in
  controller | queue | worker | sip-edge)
    exec node "$app/packages/$role/dist/main.js" "$@"
    ;;
  migrate)
    exec node "$app/packages/storage/dist/cli.js" migrate "$@"
    ;;
  switchboard)
    exec node "$app/packages/controller/dist/cli.js" "$@"
    ;;
  help | -h | --help)
    usage
    ;;
  *)
    echo "switchboard image: unknown role '$role'; expected one of: $roles" >&2
    exit 64
    ;;
esac
