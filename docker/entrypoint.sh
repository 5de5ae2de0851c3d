#!/bin/sh
# Container entrypoint: apply migrations, then serve (PID 1 becomes uvicorn via exec).
# With arguments, run them instead, e.g. `score4climate create-user --email ... --role admin`.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

score4climate migrate
exec score4climate serve --host 0.0.0.0 --port "${PORT:-8000}"
