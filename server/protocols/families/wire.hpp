#pragma once

// What every family's reader and writer needs of JSON on the wire: reading members leniently,
// writing without throwing, repairing a provider's invalid UTF-8, making ids.

#include "server/protocols/ir.hpp"

#include <string>
#include <string_view>

namespace agproxy::wire {

using ir::json;

// Return `value` as compact JSON text; invalid UTF-8 in its strings is replaced, not thrown on.
std::string dump(const json& value);

// Return `bytes` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD:
// nlohmann rejects such JSON whole, and one bad byte from a provider must not lose a delta.
std::string valid_utf8(std::string_view bytes);

// Return member `key` of `object`, or nullptr when `object` is not an object or the member is
// absent or null.
const json* member(const json& object, const char* key);

// Return a new id: `prefix` and 24 random letters and digits.
std::string make_id(std::string_view prefix);

// Return tool call `arguments` (JSON text) as the object Anthropic's tool_use input and Gemini's
// functionCall args require; arguments that are not one (a model that produced broken JSON)
// become {} rather than a request the provider rejects.
json arguments_object(const std::string& arguments);

// Return whether `model` names one of OpenAI's reasoning models (o1, o3, o4, gpt-5 and their
// variants), which refuse temperature and top_p, and whose effort is the only reasoning setting;
// other models of OpenAI's APIs refuse an effort.
bool openai_reasoning_model(const std::string& model);

// Return the seconds since the Unix epoch, for "created" fields.
long long unix_now();

} // namespace agproxy::wire
