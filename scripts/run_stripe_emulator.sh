#!/usr/bin/env bash
# A Stripe with no internet for the demo: localstripe (a third party's Stripe emulator) behind the
# tests' bridge (paysite/tests/stripe_bridge.py, docs/stripe-emulator.md), with the demo's webhook
# endpoint registered in it. Then, in another terminal, the demo in Stripe mode (README, "Stripe mode").
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${STRIPE_EMULATOR_PORT:-8420}"
WEB="${WEB_ADDR:-127.0.0.1:8000}"
SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_ZGVtby1zdHJpcGUtZW11bGF0b3Itd2ViaG9vaw==}"

pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait 2>/dev/null; echo "The Stripe emulator has stopped."' INT TERM EXIT
log="$(mktemp)"
$BIN/python -m paysite.tests.localstripe_launcher --port 0 --settle-delay 15 >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q " listening on " "$log" && break; sleep 0.2; done
line="$(grep -m1 " listening on " "$log")" || { cat "$log"; echo "localstripe did not start."; exit 1; }
upstream="${line##* listening on }"; upstream="${upstream%% *}"
$BIN/python -m paysite.tests.stripe_bridge --upstream "$upstream" --port "$PORT" &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.2; done
curl -fsS -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://$WEB/webhooks/stripe/\", \"secret\": \"$SECRET\"}" \
    "http://127.0.0.1:$PORT/_config/webhooks/demo" || echo "Could not register the demo's webhook endpoint."
cat <<MSG

  A Stripe emulator is running on http://127.0.0.1:$PORT (Ctrl-C stops it; SEPA debits settle in 15 s).
  In another terminal:

    PSP_PROVIDER=stripe STRIPE_API_BASE=http://127.0.0.1:$PORT STRIPE_SECRET_KEY=sk_test_emulator \\
      STRIPE_PUBLISHABLE_KEY=pk_test_emulator STRIPE_WEBHOOK_SECRET=$SECRET make run

MSG
wait -n "${pids[@]}"
