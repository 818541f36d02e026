#!/usr/bin/env bash
# Run the SDK tests; `./bootstrap test` installs their npm packages (npm ci) first.
#   run.sh   (with AGPROXY_BINARY and AGPROXY_FAKE_PROVIDER set, as CTest does)
set -eu
cd "$(dirname "$0")"
if [[ ! -d node_modules ]]; then
  echo "SKIP: the SDKs are not installed; run: npm ci --prefix tests/sdk (./bootstrap test does)"
  exit 77
fi
exec node --test --test-concurrency=1 sdk.test.mjs translate.test.mjs
