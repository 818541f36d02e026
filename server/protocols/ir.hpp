#pragma once

// The one representation every API family is read into and written from (DESIGN §6): a
// conversation (the request), an answer (the whole reply) and the events of a streamed reply.
// Each family has one reader and one writer (server/protocols/families/); translating from family
// A to family B is A's reader followed by B's writer, never a converter per pair.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace agproxy::ir {

using nlohmann::json;

// An image given inline (base64 `data` with its `media_type`) or by `url`.
struct Image {
  std::string media_type;
  std::string data;
  std::string url;
};

// A call of one of the request's tools by the model.
struct ToolCall {
  // The call's id; made up by the reader when the family has none (Gemini).
  std::string id;
  std::string name;
  // The arguments as JSON text (an object), exactly as the model produced them.
  std::string arguments;
  // Gemini's thoughtSignature of this call, which Gemini needs back on the next turn; empty: none.
  std::string signature;
};

// The result of a tool call, sent back by the client.
struct ToolResult {
  // The id of the call it answers.
  std::string id;
  // The called tool's name (readers fill it from the call earlier in the history when the family
  // sends only the id).
  std::string name;
  // The result's text (its text parts joined).
  std::string content;
  bool is_error = false;
  // The images the result holds (a screenshot, an image file the tool read), after its text.
  std::vector<Image> images;
};

// Reasoning the model did before answering, kept so that the provider accepts the next turn.
struct Reasoning {
  // The summary or thinking text (may be empty).
  std::string text;
  // Anthropic's thinking signature, OpenAI's encrypted_content, or Anthropic's redacted data.
  std::string signature;
  // Whether `signature` is Anthropic redacted_thinking data (no text).
  bool redacted = false;
};

// One piece of a message.
struct Part {
  enum class Kind : std::uint8_t { text, image, tool_call, tool_result, reasoning };
  Kind kind = Kind::text;
  std::string text;
  Image image;
  ToolCall call;
  ToolResult result;
  Reasoning reasoning;
};

enum class Role : std::uint8_t { user, assistant };

// A turn of the history. Tool results are user parts (Anthropic's and Gemini's view); writers of
// families that give them a role or item of their own (OpenAI) split them out.
struct Message {
  Role role = Role::user;
  std::vector<Part> parts;
};

// A tool the model may call: a function with a JSON Schema for its arguments.
struct Tool {
  std::string name;
  std::string description;
  json parameters = json::object();
};

struct ToolChoice {
  enum class Mode : std::uint8_t { unset, automatic, none, required, tool };
  Mode mode = Mode::unset;
  // The tool that must be called, with Mode::tool.
  std::string name;
};

// The output format asked for.
struct OutputFormat {
  enum class Kind : std::uint8_t { text, json_object, json_schema };
  Kind kind = Kind::text;
  std::string name;
  json schema;
};

// A request for the model's next turn.
struct Conversation {
  std::string model;
  // System / developer instructions, joined with blank lines.
  std::string system;
  std::vector<Message> messages;
  std::vector<Tool> tools;
  ToolChoice tool_choice;
  std::optional<bool> parallel_tool_calls;
  std::optional<long long> max_tokens;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<long long> top_k;
  std::vector<std::string> stop;
  OutputFormat format;
  // Reasoning asked for: a token budget (Anthropic, Gemini) and/or an effort ("low", "medium",
  // "high"; OpenAI). Neither set: the provider's default.
  std::optional<long long> reasoning_budget;
  std::string reasoning_effort;
  bool stream = false;
  // Whether a streamed reply should end with a usage report where the family makes it optional
  // (OpenAI Chat's stream_options.include_usage: its chunk with empty choices trips clients that
  // did not ask for it).
  bool stream_usage = false;
};

enum class Finish : std::uint8_t { stop, length, tool_calls, content_filter, error };

struct Usage {
  long long input = 0;
  long long output = 0;
  // Of `input`, how many were read from the provider's cache.
  long long cached = 0;
  // Of `output`, how many were reasoning.
  long long reasoning = 0;
};

// A whole reply.
struct Answer {
  std::string id;
  std::string model;
  std::vector<Part> parts;
  Finish finish = Finish::stop;
  Usage usage;
};

// One step of a streamed reply. Parts are numbered in order of appearance (`index`): a text, a
// reasoning or a tool call each get a new index when they start; deltas name the part they extend.
struct Event {
  enum class Kind : std::uint8_t {
    // The reply begins: `id`, `model`, and the input tokens in `usage` where known.
    start,
    // `text` extends text part `index` (opened by its first delta).
    text_delta,
    // `text` extends reasoning part `index` (opened by its first delta).
    reasoning_delta,
    // Reasoning part `index` carries signature `text` (`redacted`: Anthropic redacted data).
    reasoning_signature,
    // Tool call part `index` opens: `id`, `name`, and `signature` (Gemini's thoughtSignature).
    tool_call_start,
    // `text` extends the arguments (JSON text) of tool call part `index`.
    tool_args_delta,
    // The reply ends: `finish` and `usage`.
    finish,
    // The provider reported an error mid-stream: `text` is its message, `status` its HTTP kind.
    error,
  };
  Kind kind = Kind::text_delta;
  size_t index = 0;
  std::string text;
  std::string id;
  std::string model;
  std::string name;
  std::string signature;
  bool redacted = false;
  Finish finish = Finish::stop;
  Usage usage;
  int status = 0;
};

// A request field the target family cannot express and which cannot be dropped without changing
// the meaning; the client gets a 400 naming `field`.
class Untranslatable : public std::runtime_error {
public:
  Untranslatable(std::string field, const std::string& message)
      : std::runtime_error(message), m_field(std::move(field)) {}
  // Return the client's field that could not be carried.
  const std::string& field() const { return m_field; }

private:
  std::string m_field;
};

// Return `id` with Gemini's thoughtSignature `signature` folded in, for families whose tool
// calls have no place for it: the client sends the id back with the result, and
// split_call_id() recovers both. Empty `signature`: `id` unchanged.
std::string join_call_id(const std::string& id, const std::string& signature);

// Return the id and the thoughtSignature that join_call_id() folded together (no signature:
// `id` and "").
std::pair<std::string, std::string> split_call_id(const std::string& id);

// Return a new tool call id for families that have none ("call_" and 24 random letters).
std::string make_call_id();

// Return the text of the parts of kind text in `parts`, joined.
std::string joined_text(const std::vector<Part>& parts);

// Return the image URL `url` names (OpenAI's image_url): a base64 data URL read inline, any other
// URL kept by reference. Throws std::invalid_argument for a data URL that is not base64.
Image image_from_url(const std::string& url);

// Return `image` as OpenAI takes it in an image_url: a base64 data URL when inline.
std::string image_url(const Image& image);

} // namespace agproxy::ir
