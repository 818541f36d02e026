#pragma once

#include "diag/doctor/context.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The server's record of refused requests (GET /agproxy/events, DESIGN §7–8) as the doctor reads
// it: the clients it refused, grouped, each with the evidence the client checks judge.
namespace agproxy::diag::doctor {

// Return the refused clients of an answer of GET /agproxy/events: its "denied" events grouped by
// address, User-Agent and key, most recent first, without the doctor's own probes. Nothing when
// `body` is not such an answer.
std::optional<std::vector<RecordedClient>> parse_denials(std::string_view body);

// Read the clients the server refused into context.recorded when no -H / --curl was given and
// agproxy answers at the target; the most recent becomes the client the checks judge. A server
// that keeps no record leaves the walk as it was.
void read_recorded_denials(Context& context);

// Return what `client` sent and what came of it, in one sentence, e.g. "Claude Code 2.1.332 at
// 127.0.0.1 sent Authorization (a key …cdef that is not the proxy key); its x-api-key was
// ignored". Keys are compared with `proxy_key` when it is known, else the server's judgement
// stands.
std::string story_of(const RecordedClient& client, const std::optional<std::string>& proxy_key);

} // namespace agproxy::diag::doctor
