#!/usr/bin/env bash
# The real coding agents through agproxy to the fake provider; `./bootstrap test` installs them (npm ci).
#   run.sh   (with AGPROXY_BINARY and AGPROXY_FAKE_PROVIDER set, as CTest does)
#   AGENTS="claude" UPSTREAMS="openai" run.sh   one combination; see README.md for the rest
set -eu
# The binaries as given from the caller's directory, before this script moves to its own.
for var in AGPROXY_BINARY AGPROXY_FAKE_PROVIDER; do
  if [[ -n ${!var:-} ]]; then
    export "$var=$(realpath "${!var}")"
  fi
done
cd "$(dirname "$0")"
if [[ ! -d node_modules ]]; then
  echo "SKIP: the agents are not installed; run: npm ci --prefix tests/agents (./bootstrap test does)"
  exit 77
fi
# Nothing from the caller's proxy settings reaches the agents or agproxy (the driver builds their
# environments from nothing; this covers node itself).
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY http_proxy https_proxy all_proxy no_proxy
node agents.test.mjs &
driver=$!
# The driver kills every process it started on exit or signal; this passes a signal on to it.
trap 'kill -TERM "$driver" 2>/dev/null || true' INT TERM HUP
status=0
wait "$driver" || status=$?
if kill -0 "$driver" 2>/dev/null; then
  wait "$driver" || status=$?
fi
exit "$status"
