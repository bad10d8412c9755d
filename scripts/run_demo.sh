#!/usr/bin/env bash
# Starts everything the demo needs in the foreground: the sandbox PSP, the web server, a Celery
# worker and the Celery beat. One Ctrl-C stops them all; if one of them dies, the others stop.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# Demo mode: DEBUG's default is off, and with it the demo secrets are refused.
export DEBUG=true
# Demo pace: the sandbox settles a "two hour" bank transfer in 14 s, and the poller looks at
# unfinished payments within seconds. Anything set in the environment or .env wins.
export PAYMENTS_POLL_INTERVAL="${PAYMENTS_POLL_INTERVAL:-5}"
export PAYMENTS_POLL_FIRST_DELAY="${PAYMENTS_POLL_FIRST_DELAY:-10}"
export PAYMENTS_POLL_MAX_DELAY="${PAYMENTS_POLL_MAX_DELAY:-60}"
PSP_PORT="${PSP_SANDBOX_PORT:-8001}"
WEB_ADDR="${WEB_ADDR:-127.0.0.1:8000}"
# The addresses follow the ports: the BPS's own (the PSP's webhook and return URLs, the demo
# shop's notification URL) is where the web server listens, and the sandbox is asked where it runs.
export SITE_URL="${SITE_URL:-http://$WEB_ADDR}"
if [ "${PSP_PROVIDER:-generic}" != "stripe" ]; then
    export PSP_BASE_URL="${PSP_BASE_URL:-http://127.0.0.1:$PSP_PORT}"
fi
# The demo shop's notifications go to its receiver on this machine: a private URL, refused
# unless allowed (for the demo only; production keeps the default, off).
export NOTIFY_ALLOW_PRIVATE_URLS="${NOTIFY_ALLOW_PRIVATE_URLS:-true}"

# The staff login, and the demo shop's notification endpoint (SITE_URL/demo/notifications/).
$BIN/python manage.py demo_setup || exit 1

pids=()
stopping=""
stop() {
    trap - INT TERM EXIT
    stopping=yes
    echo; echo "Stopping the demo (${#pids[@]} processes)…"
    kill -TERM "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    echo "The demo has stopped."
}
trap stop INT TERM EXIT

if [ "${PSP_PROVIDER:-generic}" = "stripe" ]; then
    PSP_LINE="Stripe:              ${STRIPE_API_BASE:-https://api.stripe.com} (webhooks to /webhooks/stripe/)"
else
    $BIN/python -m psp_sandbox --port "$PSP_PORT" --time-scale "${PSP_SANDBOX_TIME_SCALE:-0.002}" &
    pids+=($!)
    PSP_LINE="Sandbox PSP:         http://127.0.0.1:$PSP_PORT/"
fi
$BIN/python manage.py runserver "$WEB_ADDR" --noreload &
pids+=($!)
# Warnings only: the poller runs every few seconds and would drown everything else.
$BIN/celery -A paysite worker --loglevel WARNING --concurrency 2 &
pids+=($!)
$BIN/celery -A paysite beat --loglevel WARNING &
pids+=($!)

sleep 4
cat <<MSG

  The demo is running (Ctrl-C stops everything):
    Shop (storefront):   http://$WEB_ADDR/
    Mid-office (admin):  http://$WEB_ADDR/admin/   (login printed above)
    API docs:            http://$WEB_ADDR/api/docs/
    Health:              http://$WEB_ADDR/healthz
    $PSP_LINE

MSG
wait -n "${pids[@]}"
status=$?
# Ctrl-C reaches every process at once, so one of them may end before this script's own trap
# has run: give the trap a moment, so that a Ctrl-C is never reported as a crash.
sleep 0.5
if [ -z "$stopping" ]; then
    echo "A demo process exited by itself (status $status; its output is above); stopping the others."
fi
