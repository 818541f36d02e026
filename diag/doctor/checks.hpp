#pragma once

#include "diag/doctor/context.hpp"

// Every check of the doctor, by family. A check reads the options, the environment and what the
// checks before it left in the Context, may send probes through it, and returns its CheckResult:
// it is given one with its id, skipped until it says otherwise.
namespace agproxy::diag::doctor {

// The shape of every check.
using CheckFunction = CheckResult (*)(Context& context, CheckResult check);

// checks_server.cpp: the config, and what answers at the target.

// config.load: which config file was read, that it parses, the effective mode it implies.
CheckResult check_config_load(Context& context, CheckResult check);
// server.reachable: something answers HTTP at the target (sets the target and the health probe).
CheckResult check_server_reachable(Context& context, CheckResult check);
// health.probe: what GET /healthz without a key says of the server and its mode.
CheckResult check_health_probe(Context& context, CheckResult check);

// checks_auth.cpp: the proxy's auth settings, as configured and as observed.

// auth.effective_mode: the mode from the config and the probes agree, and the client's request
// carries a key where the mode needs one.
CheckResult check_auth_effective_mode(Context& context, CheckResult check);
// auth.api_key: auth is not on with an empty key.
CheckResult check_auth_api_key(Context& context, CheckResult check);
// auth.simple_request: GET /v1/models with only 'Authorization: Bearer <key>' succeeds.
CheckResult check_auth_simple_request(Context& context, CheckResult check);

// checks_headers.cpp: the key headers of the failing client (its ClientEvidence).

// headers.conflict: several key headers with different keys; which one is read.
CheckResult check_headers_conflict(Context& context, CheckResult check);
// headers.malformed: what analyze_key_header finds in the header read (and the others).
CheckResult check_headers_malformed(Context& context, CheckResult check);
// headers.foreign_key: a provider's key sent instead of the proxy key.
CheckResult check_headers_foreign_key(Context& context, CheckResult check);
// headers.key_mismatch: the key read is not the proxy key.
CheckResult check_headers_key_mismatch(Context& context, CheckResult check);

// checks_env.cpp: this shell's environment and the coding agents' settings.

// env.sdk: the headers the SDKs would send given this shell's variables.
CheckResult check_env_sdk(Context& context, CheckResult check);
// env.agents: the coding agents' own settings (DESIGN §9).
CheckResult check_env_agents(Context& context, CheckResult check);
// env.http_proxy: an HTTP(S)_PROXY that NO_PROXY does not exempt the target from.
CheckResult check_env_http_proxy(Context& context, CheckResult check);

// checks_upstream.cpp: the provider behind the proxy.

// upstream.auth: with --probe-model, whether the provider accepts the proxy's provider key.
CheckResult check_upstream_auth(Context& context, CheckResult check);

} // namespace agproxy::diag::doctor
