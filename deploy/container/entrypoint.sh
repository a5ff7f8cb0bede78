#!/bin/sh
# Entrypoint of the Dockyard image (runs under tini as PID 1).
#
#   serve  (default) apply migrations, then run the API server on $DOCKYARD_HOST:$DOCKYARD_PORT
#          (0.0.0.0:8700 in the image); extra arguments go to `dockyard serve`
#   worker | beat | migrate | user ... | any other `dockyard` command: run it
#   anything else (e.g. `sh`): run that program
set -eu

[ "$#" -gt 0 ] || set -- serve

case "$1" in
  serve)
    shift
    # `serve` migrates too; doing it first gives a clear failure (and exit code) on a bad
    # database URL or a failed migration before the server starts listening. A stop
    # request meanwhile (tini signals only this shell) lets the migration finish, then
    # ends cleanly instead of starting the server.
    stop=""
    trap 'stop=1' TERM INT
    dockyard migrate
    [ -z "$stop" ] || exit 0
    trap - TERM INT
    exec dockyard serve --host "${DOCKYARD_HOST:-0.0.0.0}" --port "${DOCKYARD_PORT:-8700}" "$@"
    ;;
  -*)
    exec dockyard "$@"
    ;;
esac

if dockyard "$1" --help >/dev/null 2>&1 && ! command -v "$1" >/dev/null 2>&1; then
  exec dockyard "$@"
fi
exec "$@"
