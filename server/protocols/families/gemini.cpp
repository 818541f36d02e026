// The Gemini family (generateContent / streamGenerateContent), as Gemini CLI and @google/genai
// speak it. Gemini has no tool call ids (we make them up), carries thoughtSignatures on parts,
// takes only an OpenAPI subset of JSON Schema, and streams a call's arguments whole.

#include "server/protocols/families/wire.hpp"
#include "server/protocols/family.hpp"
#include "server/protocols/sse.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <stdexcept>

namespace agproxy {

namespace {

using wire::arguments_object;
using wire::dump;
using wire::valid_utf8;

using ir::json;

// Google's documented placeholder for a function call part whose history did not come from
// Gemini: Gemini 3 models reject a turn whose calls carry no thoughtSignature at all.
constexpr const char* k_skip_signature = "skip_thought_signature_validator";

// How deep a tool schema may nest, and how many nodes it may expand to once $refs are inlined,
// before the rest is cut to a plain object (cyclic and exploding $refs end there).
constexpr int k_max_schema_depth = 32;
constexpr int k_max_schema_nodes = 10000;

// Thinking budgets written for an effort; Gemini takes only a budget.
constexpr long long k_budget_low = 1024;
constexpr long long k_budget_medium = 8192;
constexpr long long k_budget_high = 24576;

// Return `object[key]` as a string, or "" when it is absent or not a string.
std::string string_at(const json& object, const char* key) {
  if (object.is_object()) {
    const auto it = object.find(key);
    if (it != object.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return "";
}

// Return `object[key]` as an integer (fractions cut, clamped to ±2^53 so that sums stay
// defined), or nothing when it is absent or not a number.
std::optional<long long> optional_integer_at(const json& object, const char* key) {
  constexpr double k_limit = 9007199254740992.0;
  if (!object.is_object()) {
    return std::nullopt;
  }
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) {
    return std::nullopt;
  }
  const double value = it->get<double>();
  return static_cast<long long>(std::clamp(value, -k_limit, k_limit));
}

// Return `object[key]` as an integer, or 0 when it is absent or not a number.
long long integer_at(const json& object, const char* key) {
  return optional_integer_at(object, key).value_or(0);
}

// Return `object[key]` when it is an object, else an empty object.
const json& object_at(const json& object, const char* key) {
  static const json empty = json::object();
  if (object.is_object()) {
    const auto it = object.find(key);
    if (it != object.end() && it->is_object()) {
      return *it;
    }
  }
  return empty;
}

// Return `object[key]` when it is an array, else an empty array.
const json& array_at(const json& object, const char* key) {
  static const json empty = json::array();
  if (object.is_object()) {
    const auto it = object.find(key);
    if (it != object.end() && it->is_array()) {
      return *it;
    }
  }
  return empty;
}

bool flag_at(const json& object, const char* key) {
  if (!object.is_object()) {
    return false;
  }
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

[[noreturn]] void refuse(const std::string& field, const std::string& what) {
  throw ir::Untranslatable(field,
                           field + " (" + what + ") cannot be translated to another API family");
}

// Return a tool result's text from a functionResponse.response: Gemini CLI wraps it as
// {"output": …} (errors {"error": …}); other clients use "result" or "content".
std::pair<std::string, bool> result_content(const json& response) {
  const auto text_of = [](const json& value) {
    return value.is_string() ? value.get<std::string>() : dump(value);
  };
  if (!response.is_object()) {
    return {text_of(response), false};
  }
  if (response.size() == 1) {
    const std::string& key = response.begin().key();
    const json& value = response.begin().value();
    if (key == "output" || key == "result" || key == "content") {
      return {text_of(value), false};
    }
    if (key == "error") {
      return {text_of(value), true};
    }
  }
  return {dump(response), false};
}

// Return Gemini's OpenAPI-style schema (upper-case types, `nullable`, format "enum",
// propertyOrdering) as the JSON Schema the other families take.
json to_json_schema(const json& schema, int depth = 0) {
  if (!schema.is_object() || depth > k_max_schema_depth) {
    return schema.is_object() ? json::object() : schema;
  }
  json out = json::object();
  for (const auto& [key, value] : schema.items()) {
    if (key == "type" && value.is_string()) {
      std::string type = value.get<std::string>();
      std::transform(type.begin(), type.end(), type.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (type != "type_unspecified") {
        out["type"] = type;
      }
    } else if (key == "properties" && value.is_object()) {
      json properties = json::object();
      for (const auto& [name, property] : value.items()) {
        properties[name] = to_json_schema(property, depth + 1);
      }
      out["properties"] = properties;
    } else if (key == "items") {
      out["items"] = to_json_schema(value, depth + 1);
    } else if (key == "anyOf" && value.is_array()) {
      json any = json::array();
      for (const json& choice : value) {
        any.push_back(to_json_schema(choice, depth + 1));
      }
      out["anyOf"] = any;
    } else if (key == "nullable" || key == "propertyOrdering" ||
               (key == "format" && value == "enum")) {
      continue;
    } else {
      out[key] = value;
    }
  }
  if (flag_at(schema, "nullable") && out.contains("type") && out["type"].is_string()) {
    out["type"] = json::array({out["type"], "null"});
  }
  return out;
}

// Reduces a JSON Schema to the OpenAPI subset Gemini's function declarations accept. Kept:
// type, format (string: enum, date-time; number/integer: int32, int64, float, double),
// description, nullable, enum (strings only), items, properties, required (only names of present
// properties), minItems/maxItems, minimum/maximum, anyOf, propertyOrdering. Rewritten: local
// $refs are inlined (cyclic or unresolvable ones become {type: object}); allOf is merged into its
// schema; oneOf becomes anyOf; a type list ["x", "null"] becomes type x + nullable (several
// non-null types become anyOf); a string const becomes a one-value enum; anyOf choices of type
// null become nullable. Dropped: $schema, $id, $defs/definitions, additionalProperties,
// patternProperties, exclusiveMinimum/Maximum, default, examples, title, pattern,
// minLength/maxLength, uniqueItems, non-string enums and every other keyword. An object without
// properties is written as plain {type: object}.
class SchemaReducer {
public:
  explicit SchemaReducer(const json& root) : m_root(root) {}

  // Return `schema` reduced to what Gemini accepts.
  json reduce(const json& schema) { return reduce_at(schema, 0); }

private:
  // Return the schema a local "$ref" names, or null when it names none.
  const json* resolve(const json& ref) const {
    if (!ref.is_string()) {
      return nullptr;
    }
    const std::string& pointer = ref.get_ref<const std::string&>();
    if (pointer.empty() || pointer[0] != '#') {
      return nullptr;
    }
    try {
      const json::json_pointer path(pointer.substr(1));
      if (m_root.contains(path)) {
        return &m_root.at(path);
      }
    } catch (const json::exception&) {
      // A malformed pointer names nothing.
    }
    return nullptr;
  }

  // Return `schema` with allOf merged in and its own $ref inlined: properties and required are
  // united, other keywords kept where the schema has none of its own. The definitions inlined
  // stay in m_expanding while the schema's children are reduced, so a cycle is cut where it
  // closes.
  json flatten(const json& schema) {
    json out = schema;
    if (out.contains("$ref")) {
      const json* target = resolve(out["$ref"]);
      out.erase("$ref");
      if (target == nullptr || !target->is_object() ||
          std::find(m_expanding.begin(), m_expanding.end(), target) != m_expanding.end()) {
        out["type"] = "object";
        out.erase("properties");
      } else {
        m_expanding.push_back(target);
        merge(out, flatten(*target));
      }
    }
    if (out.contains("allOf")) {
      const json all = out["allOf"];
      out.erase("allOf");
      if (all.is_array()) {
        for (const json& part : all) {
          if (part.is_object()) {
            merge(out, flatten(part));
          }
        }
      }
    }
    return out;
  }

  static void merge(json& into, const json& from) {
    for (const auto& [key, value] : from.items()) {
      if (key == "properties" && value.is_object() && into.contains(key) && into[key].is_object()) {
        for (const auto& [name, property] : value.items()) {
          if (!into[key].contains(name)) {
            into[key][name] = property;
          }
        }
      } else if (key == "required" && value.is_array() && into.contains(key) &&
                 into[key].is_array()) {
        for (const json& name : value) {
          into[key].push_back(name);
        }
      } else if (!into.contains(key)) {
        into[key] = value;
      }
    }
  }

  json reduce_at(const json& given, int depth) {
    if (!given.is_object()) {
      return json::object();
    }
    if (depth > k_max_schema_depth || ++m_nodes > k_max_schema_nodes) {
      return {{"type", "object"}};
    }
    const size_t mark = m_expanding.size();
    json out = reduce_flat(flatten(given), depth);
    m_expanding.resize(mark);
    return out;
  }

  json reduce_flat(const json& schema, int depth) {

    std::vector<std::string> types;
    bool nullable = flag_at(schema, "nullable");
    if (const auto it = schema.find("type"); it != schema.end()) {
      const json list = it->is_array() ? *it : json::array({*it});
      for (const json& type : list) {
        if (type == "null") {
          nullable = true;
        } else if (type.is_string() &&
                   std::find(types.begin(), types.end(), type.get<std::string>()) == types.end()) {
          types.push_back(type.get<std::string>());
        }
      }
    }
    if (types.size() > 1) {
      json any = json::array();
      for (const std::string& type : types) {
        json variant = schema;
        variant["type"] = type;
        variant.erase("description");
        any.push_back(reduce_at(variant, depth + 1));
      }
      json out = {{"anyOf", any}};
      copy_description(schema, out);
      if (nullable) {
        out["nullable"] = true;
      }
      return out;
    }

    json out = json::object();
    std::string type = types.empty() ? "" : types.front();
    json values = json::array();
    bool strings_only = true;
    if (const auto it = schema.find("const"); it != schema.end()) {
      values.push_back(*it);
    } else if (const auto en = schema.find("enum"); en != schema.end() && en->is_array()) {
      values = *en;
    }
    json enumeration = json::array();
    for (const json& value : values) {
      if (value.is_null()) {
        nullable = true;
      } else if (!value.is_string()) {
        strings_only = false;
      } else if (!value.get_ref<const std::string&>().empty()) {
        enumeration.push_back(value);
      }
    }
    const bool use_enum =
        strings_only && !enumeration.empty() && (type.empty() || type == "string");
    if (use_enum) {
      type = "string";
    }
    if (type.empty()) {
      if (schema.contains("properties")) {
        type = "object";
      } else if (schema.contains("items")) {
        type = "array";
      }
    }
    if (!type.empty()) {
      out["type"] = type;
    }
    copy_description(schema, out);
    if (nullable) {
      out["nullable"] = true;
    }
    if (use_enum) {
      out["enum"] = enumeration;
    }
    const std::string format = string_at(schema, "format");
    if ((type == "string" && (format == "enum" || format == "date-time")) ||
        ((type == "number" || type == "integer") &&
         (format == "int32" || format == "int64" || format == "float" || format == "double"))) {
      out["format"] = format;
    }
    for (const char* key : {"minItems", "maxItems", "minimum", "maximum"}) {
      if (const auto it = schema.find(key); it != schema.end() && it->is_number()) {
        out[key] = *it;
      }
    }
    if (const auto it = schema.find("items"); it != schema.end()) {
      if (it->is_object()) {
        out["items"] = reduce_at(*it, depth + 1);
      } else if (it->is_array() && !it->empty()) {
        out["items"] = reduce_at(it->front(), depth + 1);
      }
    }
    reduce_properties(schema, out, depth);
    reduce_choices(schema, out, depth);
    return out;
  }

  static void copy_description(const json& schema, json& out) {
    if (const auto it = schema.find("description"); it != schema.end() && it->is_string()) {
      out["description"] = *it;
    }
  }

  void reduce_properties(const json& schema, json& out, int depth) {
    const auto it = schema.find("properties");
    if (it == schema.end() || !it->is_object() || it->empty()) {
      return;
    }
    json properties = json::object();
    for (const auto& [name, property] : it->items()) {
      properties[name] = reduce_at(property, depth + 1);
    }
    out["properties"] = properties;
    for (const char* key : {"required", "propertyOrdering"}) {
      json names = json::array();
      for (const json& name : array_at(schema, key)) {
        if (name.is_string() && properties.contains(name.get<std::string>()) &&
            std::find(names.begin(), names.end(), name) == names.end()) {
          names.push_back(name);
        }
      }
      if (!names.empty()) {
        out[key] = names;
      }
    }
  }

  void reduce_choices(const json& schema, json& out, int depth) {
    json choices = json::array();
    for (const char* key : {"anyOf", "oneOf"}) {
      for (const json& choice : array_at(schema, key)) {
        if (choice.is_object() && choice.contains("type") && choice["type"] == "null") {
          out["nullable"] = true;
        } else {
          choices.push_back(reduce_at(choice, depth + 1));
        }
      }
    }
    if (choices.size() == 1 && !out.contains("type")) {
      for (const auto& [key, value] : choices.front().items()) {
        if (!out.contains(key)) {
          out[key] = value;
        }
      }
    } else if (!choices.empty()) {
      out["anyOf"] = choices;
    }
  }

  const json& m_root;
  std::vector<const json*> m_expanding;
  int m_nodes = 0;
};

// Return a tool's parameters for a function declaration, or null when they reduce to an empty
// object (Gemini then takes no "parameters").
json declaration_parameters(const json& parameters) {
  const json reduced = SchemaReducer(parameters).reduce(parameters);
  json bare = reduced;
  bare.erase("description");
  if (bare.empty() || bare == json{{"type", "object"}}) {
    return nullptr;
  }
  return reduced;
}

json finish_reason_of(ir::Finish finish) {
  switch (finish) {
  case ir::Finish::stop:
  case ir::Finish::tool_calls:
    return "STOP";
  case ir::Finish::length:
    return "MAX_TOKENS";
  case ir::Finish::content_filter:
    return "SAFETY";
  case ir::Finish::error:
    return "OTHER";
  }
  return "STOP";
}

ir::Finish finish_of(const std::string& reason) {
  if (reason == "MAX_TOKENS") {
    return ir::Finish::length;
  }
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "IMAGE_SAFETY") {
    return ir::Finish::content_filter;
  }
  if (reason == "MALFORMED_FUNCTION_CALL") {
    return ir::Finish::error;
  }
  return ir::Finish::stop;
}

ir::Usage usage_of(const json& metadata) {
  ir::Usage usage;
  usage.input = integer_at(metadata, "promptTokenCount");
  usage.cached = integer_at(metadata, "cachedContentTokenCount");
  usage.reasoning = integer_at(metadata, "thoughtsTokenCount");
  usage.output = integer_at(metadata, "candidatesTokenCount") + usage.reasoning;
  return usage;
}

json usage_metadata(const ir::Usage& usage) {
  json out = {{"promptTokenCount", usage.input},
              {"candidatesTokenCount", std::max(0LL, usage.output - usage.reasoning)},
              {"totalTokenCount", usage.input + usage.output}};
  if (usage.reasoning > 0) {
    out["thoughtsTokenCount"] = usage.reasoning;
  }
  if (usage.cached > 0) {
    out["cachedContentTokenCount"] = usage.cached;
  }
  return out;
}

// Return a functionCall part. Answers carry the id so that the client sends it back with the
// result; requests to Gemini leave it out, as Gemini matches results by name and order.
json call_part(const ir::ToolCall& call, bool with_id) {
  json function = {{"name", call.name}, {"args", arguments_object(call.arguments)}};
  if (with_id && !call.id.empty()) {
    function["id"] = call.id;
  }
  json part = {{"functionCall", function}};
  if (!call.signature.empty()) {
    part["thoughtSignature"] = call.signature;
  }
  return part;
}

json thought_part(const std::string& text, const std::string& signature) {
  json part = {{"text", text}, {"thought", true}};
  if (!signature.empty()) {
    part["thoughtSignature"] = signature;
  }
  return part;
}

json image_part(const ir::Image& image) {
  if (!image.data.empty() || image.url.empty()) {
    return {{"inlineData", {{"mimeType", image.media_type}, {"data", image.data}}}};
  }
  const std::string& url = image.url;
  if (url.starts_with("data:")) {
    const size_t comma = url.find(',');
    const size_t semicolon = url.find(';');
    if (comma != std::string::npos) {
      const size_t type_end = semicolon < comma ? semicolon : comma;
      return {{"inlineData",
               {{"mimeType", url.substr(5, type_end - 5)}, {"data", url.substr(comma + 1)}}}};
    }
  }
  std::string type = image.media_type;
  if (type.empty()) {
    type = url.ends_with(".png")    ? "image/png"
           : url.ends_with(".gif")  ? "image/gif"
           : url.ends_with(".webp") ? "image/webp"
                                    : "image/jpeg";
  }
  return {{"fileData", {{"mimeType", type}, {"fileUri", url}}}};
}

// Return the parts of an answer (or model turn) for a client: Gemini's own shape, ids included.
json answer_parts(const std::vector<ir::Part>& parts) {
  json out = json::array();
  for (const ir::Part& part : parts) {
    switch (part.kind) {
    case ir::Part::Kind::text:
      out.push_back({{"text", part.text}});
      break;
    case ir::Part::Kind::image:
      out.push_back(image_part(part.image));
      break;
    case ir::Part::Kind::tool_call:
      out.push_back(call_part(part.call, true));
      break;
    case ir::Part::Kind::reasoning:
      // Redacted data is Anthropic's alone; a Gemini client cannot show or use it.
      if (!part.reasoning.redacted) {
        out.push_back(thought_part(part.reasoning.text, part.reasoning.signature));
      }
      break;
    case ir::Part::Kind::tool_result:
      break;
    }
  }
  return out;
}

// Reads one client request; keeps the per-request state that makes up call ids.
class RequestReader {
public:
  RequestReader(const json& body, const RequestSite& site) : m_body(body) {
    m_conversation.model = site.model;
    m_conversation.stream = site.stream;
  }

  ir::Conversation read() {
    if (!m_body.is_object()) {
      throw std::invalid_argument("a Gemini request must be a JSON object");
    }
    if (m_body.contains("cachedContent")) {
      refuse("cachedContent", "a cached prompt stored at Google");
    }
    const auto contents = m_body.find("contents");
    if (contents == m_body.end() || !contents->is_array()) {
      throw std::invalid_argument("a Gemini request needs a \"contents\" array");
    }
    for (size_t i = 0; i < contents->size(); ++i) {
      read_content((*contents)[i], i);
    }
    read_system();
    read_tools();
    read_generation_config();
    return std::move(m_conversation);
  }

private:
  struct Call {
    std::string id;
    std::string name;
    bool answered = false;
  };

  std::string next_id() { return "call_" + std::to_string(m_next_call++); }

  void read_content(const json& content, size_t i) {
    if (!content.is_object()) {
      throw std::invalid_argument("contents[" + std::to_string(i) + "] is not an object");
    }
    const std::string role = string_at(content, "role");
    ir::Message message;
    if (role == "model") {
      message.role = ir::Role::assistant;
    } else if (role.empty() || role == "user" || role == "function") {
      message.role = ir::Role::user;
    } else {
      throw std::invalid_argument("contents[" + std::to_string(i) + "].role \"" + role +
                                  "\" is neither user nor model");
    }
    const json& parts = array_at(content, "parts");
    for (size_t j = 0; j < parts.size(); ++j) {
      read_part(parts[j], "contents[" + std::to_string(i) + "].parts[" + std::to_string(j) + "]",
                message);
    }
    if (message.parts.empty()) {
      return;
    }
    if (!m_conversation.messages.empty() && m_conversation.messages.back().role == message.role) {
      auto& into = m_conversation.messages.back().parts;
      into.insert(into.end(), message.parts.begin(), message.parts.end());
    } else {
      m_conversation.messages.push_back(std::move(message));
    }
  }

  void read_part(const json& part, const std::string& field, ir::Message& message) {
    if (!part.is_object()) {
      throw std::invalid_argument(field + " is not an object");
    }
    for (const char* kind : {"executableCode", "codeExecutionResult", "videoMetadata"}) {
      if (part.contains(kind)) {
        refuse(field, kind);
      }
    }
    ir::Part out;
    if (const auto it = part.find("functionCall"); it != part.end() && it->is_object()) {
      out.kind = ir::Part::Kind::tool_call;
      auto [id, joined_signature] = ir::split_call_id(string_at(*it, "id"));
      out.call.name = string_at(*it, "name");
      out.call.id = id.empty() ? next_id() : id;
      const auto args = it->find("args");
      out.call.arguments = args != it->end() && args->is_object() ? dump(*args) : "{}";
      out.call.signature = string_at(part, "thoughtSignature");
      if (out.call.signature.empty()) {
        out.call.signature = joined_signature;
      }
      m_calls.push_back({out.call.id, out.call.name});
    } else if (const auto response = part.find("functionResponse");
               response != part.end() && response->is_object()) {
      out.kind = ir::Part::Kind::tool_result;
      out.result.name = string_at(*response, "name");
      out.result.id =
          answer_id(ir::split_call_id(string_at(*response, "id")).first, out.result.name);
      const auto value = response->find("response");
      std::tie(out.result.content, out.result.is_error) =
          result_content(value != response->end() ? *value : json::object());
      // Gemini 3 takes a result's images inside it, as parts of the functionResponse.
      if (const auto inner = response->find("parts");
          inner != response->end() && inner->is_array()) {
        for (size_t k = 0; k < inner->size(); ++k) {
          const std::string inner_field =
              field + ".functionResponse.parts[" + std::to_string(k) + "]";
          ir::Message scratch;
          read_part((*inner)[k], inner_field, scratch);
          if (scratch.parts.size() != 1 || scratch.parts[0].kind != ir::Part::Kind::image) {
            refuse(inner_field, "a functionResponse part that is not an image");
          }
          out.result.images.push_back(std::move(scratch.parts[0].image));
        }
      }
    } else if (const auto inline_data = part.find("inlineData");
               inline_data != part.end() && inline_data->is_object()) {
      out.kind = ir::Part::Kind::image;
      out.image.media_type = image_type(*inline_data, field);
      out.image.data = string_at(*inline_data, "data");
    } else if (const auto file = part.find("fileData"); file != part.end() && file->is_object()) {
      out.kind = ir::Part::Kind::image;
      out.image.media_type = image_type(*file, field);
      out.image.url = string_at(*file, "fileUri");
    } else if (flag_at(part, "thought")) {
      out.kind = ir::Part::Kind::reasoning;
      out.reasoning.text = string_at(part, "text");
      out.reasoning.signature = string_at(part, "thoughtSignature");
    } else if (const auto text = part.find("text"); text != part.end() && text->is_string()) {
      // A text part's thoughtSignature is only advisory for Gemini; no other family carries it.
      out.text = text->get<std::string>();
      if (out.text.empty()) {
        return;
      }
    } else {
      refuse(field, "a part of an unknown kind");
    }
    // Gemini CLI sends the images a tool returned as parts right after its functionResponse.
    if (out.kind == ir::Part::Kind::image && !message.parts.empty() &&
        message.parts.back().kind == ir::Part::Kind::tool_result) {
      message.parts.back().result.images.push_back(std::move(out.image));
      return;
    }
    message.parts.push_back(std::move(out));
  }

  // Return the media type of an inlineData or fileData: only images have a place elsewhere.
  static std::string image_type(const json& data, const std::string& field) {
    std::string type = string_at(data, "mimeType");
    if (!type.empty() && !type.starts_with("image/")) {
      refuse(field, "a " + type + " attachment");
    }
    return type;
  }

  // Return the id of the call a functionResponse answers: its own id, else the earliest
  // unanswered call of the same name, else a new one.
  std::string answer_id(const std::string& id, const std::string& name) {
    for (Call& call : m_calls) {
      if (!call.answered && (id.empty() ? call.name == name : call.id == id)) {
        call.answered = true;
        return call.id;
      }
    }
    return id.empty() ? next_id() : id;
  }

  void read_system() {
    const auto it = m_body.find("systemInstruction");
    if (it == m_body.end()) {
      return;
    }
    if (it->is_string()) {
      m_conversation.system = it->get<std::string>();
      return;
    }
    for (const json& part : array_at(*it, "parts")) {
      const std::string text = string_at(part, "text");
      if (!text.empty()) {
        m_conversation.system += (m_conversation.system.empty() ? "" : "\n\n") + text;
      }
    }
  }

  void read_tools() {
    // Google's built-in tools (googleSearch, codeExecution, urlContext, …) run at Google and have
    // no counterpart elsewhere; the model simply goes without them.
    for (const json& tool : array_at(m_body, "tools")) {
      for (const json& declaration : array_at(tool, "functionDeclarations")) {
        ir::Tool out;
        out.name = string_at(declaration, "name");
        out.description = string_at(declaration, "description");
        if (const auto it = declaration.find("parametersJsonSchema");
            it != declaration.end() && it->is_object()) {
          out.parameters = *it;
        } else if (const auto params = declaration.find("parameters");
                   params != declaration.end() && params->is_object()) {
          out.parameters = to_json_schema(*params);
        } else {
          out.parameters = {{"type", "object"}, {"properties", json::object()}};
        }
        m_conversation.tools.push_back(std::move(out));
      }
    }
    const json& config = object_at(object_at(m_body, "toolConfig"), "functionCallingConfig");
    const std::string mode = string_at(config, "mode");
    std::vector<std::string> allowed;
    for (const json& name : array_at(config, "allowedFunctionNames")) {
      if (name.is_string()) {
        allowed.push_back(name.get<std::string>());
      }
    }
    auto& choice = m_conversation.tool_choice;
    if (mode == "AUTO" || mode == "VALIDATED") {
      choice.mode = ir::ToolChoice::Mode::automatic;
    } else if (mode == "NONE") {
      choice.mode = ir::ToolChoice::Mode::none;
    } else if (mode == "ANY") {
      choice.mode = ir::ToolChoice::Mode::required;
      if (allowed.size() == 1) {
        choice.mode = ir::ToolChoice::Mode::tool;
        choice.name = allowed.front();
      } else if (!allowed.empty()) {
        // The other families cannot restrict "some tool" to a subset; offering only the allowed
        // tools keeps the restriction.
        std::erase_if(m_conversation.tools, [&](const ir::Tool& tool) {
          return std::find(allowed.begin(), allowed.end(), tool.name) == allowed.end();
        });
      }
    }
  }

  void read_generation_config() {
    const auto it = m_body.find("generationConfig");
    if (it == m_body.end() || !it->is_object()) {
      return;
    }
    const json& config = *it;
    if (integer_at(config, "candidateCount") > 1) {
      refuse("generationConfig.candidateCount", "several candidates");
    }
    for (const json& modality : array_at(config, "responseModalities")) {
      if (modality != "TEXT" && modality != "text") {
        refuse("generationConfig.responseModalities", "output other than text");
      }
    }
    m_conversation.max_tokens = optional_integer_at(config, "maxOutputTokens");
    if (const auto t = config.find("temperature"); t != config.end() && t->is_number()) {
      m_conversation.temperature = t->get<double>();
    }
    if (const auto p = config.find("topP"); p != config.end() && p->is_number()) {
      m_conversation.top_p = p->get<double>();
    }
    m_conversation.top_k = optional_integer_at(config, "topK");
    for (const json& stop : array_at(config, "stopSequences")) {
      if (stop.is_string()) {
        m_conversation.stop.push_back(stop.get<std::string>());
      }
    }
    read_output_format(config);
    read_thinking(object_at(config, "thinkingConfig"));
  }

  void read_output_format(const json& config) {
    const std::string mime = string_at(config, "responseMimeType");
    if (mime.empty() || mime == "text/plain") {
      return;
    }
    if (mime != "application/json") {
      refuse("generationConfig.responseMimeType", mime + " output");
    }
    auto& format = m_conversation.format;
    format.kind = ir::OutputFormat::Kind::json_object;
    if (const auto it = config.find("responseJsonSchema"); it != config.end() && it->is_object()) {
      format.kind = ir::OutputFormat::Kind::json_schema;
      format.schema = *it;
    } else if (const auto schema = config.find("responseSchema");
               schema != config.end() && schema->is_object()) {
      format.kind = ir::OutputFormat::Kind::json_schema;
      format.schema = to_json_schema(*schema);
    }
    if (format.kind == ir::OutputFormat::Kind::json_schema) {
      format.name = "response";
    }
  }

  void read_thinking(const json& thinking) {
    if (const auto budget = optional_integer_at(thinking, "thinkingBudget")) {
      if (*budget < 0) {
        m_conversation.reasoning_effort = "medium"; // -1: Gemini decides how much to think
      } else {
        m_conversation.reasoning_budget = *budget;
      }
    }
    const std::string level = string_at(thinking, "thinkingLevel");
    if (level == "minimal" || level == "low" || level == "LOW" || level == "MINIMAL") {
      m_conversation.reasoning_effort = "low";
    } else if (level == "medium" || level == "MEDIUM") {
      m_conversation.reasoning_effort = "medium";
    } else if (level == "high" || level == "HIGH") {
      m_conversation.reasoning_effort = "high";
    }
  }

  const json& m_body;
  ir::Conversation m_conversation;
  std::vector<Call> m_calls;
  size_t m_next_call = 0;
};

// Return the name of the call `id` answers, searched in the history before a result.
std::string called_name(const std::vector<ir::Message>& messages, const std::string& id) {
  for (const ir::Message& message : messages) {
    for (const ir::Part& part : message.parts) {
      if (part.kind == ir::Part::Kind::tool_call && part.call.id == id) {
        return part.call.name;
      }
    }
  }
  return "";
}

// Return the parts of `message` for a request to Gemini; `history` names the calls that results
// answer when the client's family sent only ids.
json request_parts(const ir::Message& message, const std::vector<ir::Message>& history) {
  json parts = json::array();
  json result_images = json::array(); // after every functionResponse, as Gemini CLI sends them
  for (const ir::Part& part : message.parts) {
    switch (part.kind) {
    case ir::Part::Kind::text:
      if (!part.text.empty()) {
        parts.push_back({{"text", part.text}});
      }
      break;
    case ir::Part::Kind::image:
      parts.push_back(image_part(part.image));
      break;
    case ir::Part::Kind::tool_call: {
      json call = call_part(part.call, false);
      if (part.call.signature.empty()) {
        call["thoughtSignature"] = k_skip_signature;
      }
      parts.push_back(call);
      break;
    }
    case ir::Part::Kind::tool_result: {
      const ir::ToolResult& result = part.result;
      json response;
      if (result.is_error) {
        response = {{"error", result.content}};
      } else {
        response = json::parse(result.content, nullptr, false);
        if (!response.is_object()) {
          response = {{"result", result.content}};
        }
      }
      const std::string name = result.name.empty() ? called_name(history, result.id) : result.name;
      parts.push_back({{"functionResponse", {{"name", name}, {"response", response}}}});
      for (const ir::Image& image : result.images) {
        result_images.push_back(image_part(image));
      }
      break;
    }
    case ir::Part::Kind::reasoning:
      // Only a signed thought helps Gemini (it validates the signature); unsigned reasoning from
      // another family is the model's own past musing and is left out.
      if (!part.reasoning.signature.empty() && !part.reasoning.redacted) {
        parts.push_back(thought_part(part.reasoning.text, part.reasoning.signature));
      }
      break;
    }
  }
  for (json& image : result_images) {
    parts.push_back(std::move(image));
  }
  return parts;
}

json generation_config(const ir::Conversation& conversation) {
  json config = json::object();
  if (conversation.max_tokens) {
    config["maxOutputTokens"] = *conversation.max_tokens;
  }
  if (conversation.temperature) {
    config["temperature"] = *conversation.temperature;
  }
  if (conversation.top_p) {
    config["topP"] = *conversation.top_p;
  }
  if (conversation.top_k) {
    config["topK"] = *conversation.top_k;
  }
  if (!conversation.stop.empty()) {
    config["stopSequences"] = conversation.stop;
  }
  if (conversation.format.kind != ir::OutputFormat::Kind::text) {
    config["responseMimeType"] = "application/json";
    if (conversation.format.kind == ir::OutputFormat::Kind::json_schema &&
        conversation.format.schema.is_object()) {
      config["responseSchema"] =
          SchemaReducer(conversation.format.schema).reduce(conversation.format.schema);
    }
  }
  std::optional<long long> budget = conversation.reasoning_budget;
  const std::string& effort = conversation.reasoning_effort;
  if (!budget && !effort.empty()) {
    if (effort == "none") {
      budget = 0;
    } else if (effort == "minimal" || effort == "low") {
      budget = k_budget_low;
    } else if (effort == "medium") {
      budget = k_budget_medium;
    } else if (effort == "high" || effort == "xhigh") {
      budget = k_budget_high;
    }
  }
  if (budget) {
    config["thinkingConfig"] = {{"thinkingBudget", *budget}, {"includeThoughts", *budget != 0}};
  }
  return config;
}

// Return the Gemini "status" word of an HTTP status, for in-stream errors.
const char* status_word(int status) {
  switch (status) {
  case 400:
    return "INVALID_ARGUMENT";
  case 401:
    return "UNAUTHENTICATED";
  case 403:
    return "PERMISSION_DENIED";
  case 404:
    return "NOT_FOUND";
  case 429:
    return "RESOURCE_EXHAUSTED";
  case 503:
    return "UNAVAILABLE";
  case 504:
    return "DEADLINE_EXCEEDED";
  default:
    return status >= 500 || status == 0 ? "INTERNAL" : "FAILED_PRECONDITION";
  }
}

class GeminiStreamReader : public StreamReader {
public:
  void feed(std::string_view bytes, std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.feed(bytes, events);
    for (const SseEvent& event : events) {
      chunk(event.data, out);
    }
  }

  void finish(std::vector<ir::Event>& out) override {
    std::vector<SseEvent> events;
    m_parser.finish(events);
    for (const SseEvent& event : events) {
      chunk(event.data, out);
    }
    if (m_started && !m_ended) {
      ir::Event event;
      event.kind = ir::Event::Kind::finish;
      event.finish = m_called ? ir::Finish::tool_calls : m_finish;
      event.usage = m_usage;
      out.push_back(std::move(event));
    }
    m_ended = true;
  }

private:
  enum class Open : std::uint8_t { none, text, reasoning, call };

  void chunk(const std::string& data, std::vector<ir::Event>& out) {
    if (m_ended || data.empty()) {
      return;
    }
    json body = json::parse(data, nullptr, false);
    if (body.is_discarded()) {
      body = json::parse(valid_utf8(data), nullptr, false);
    }
    if (body.is_discarded()) {
      fail(502, "the Gemini stream carried an event that is not JSON", out);
      return;
    }
    for (const json& response : body.is_array() ? body : json::array({body})) {
      if (!m_ended) {
        read_response(response, out);
      }
    }
  }

  void fail(int status, const std::string& message, std::vector<ir::Event>& out) {
    ir::Event event;
    event.kind = ir::Event::Kind::error;
    event.status = status;
    event.text = message;
    out.push_back(std::move(event));
    m_ended = true;
  }

  void read_response(const json& response, std::vector<ir::Event>& out) {
    if (!response.is_object()) {
      fail(502, "the Gemini stream carried a chunk that is not an object", out);
      return;
    }
    if (const auto error = response.find("error"); error != response.end()) {
      const int code = static_cast<int>(integer_at(*error, "code"));
      fail(code > 0 ? code : 500, string_at(*error, "message"), out);
      return;
    }
    if (const auto metadata = response.find("usageMetadata"); metadata != response.end()) {
      m_usage = usage_of(*metadata);
    }
    if (!m_started) {
      m_started = true;
      ir::Event start;
      start.kind = ir::Event::Kind::start;
      start.id = string_at(response, "responseId");
      start.model = string_at(response, "modelVersion");
      start.usage.input = m_usage.input;
      start.usage.cached = m_usage.cached;
      out.push_back(std::move(start));
    }
    if (!string_at(object_at(response, "promptFeedback"), "blockReason").empty()) {
      m_finish = ir::Finish::content_filter;
    }
    const json& candidates = array_at(response, "candidates");
    if (candidates.empty() || !candidates[0].is_object()) {
      return;
    }
    const json& candidate = candidates[0];
    for (const json& part : array_at(object_at(candidate, "content"), "parts")) {
      read_part(part, out);
    }
    const std::string reason = string_at(candidate, "finishReason");
    if (!reason.empty()) {
      m_finish = finish_of(reason);
    }
  }

  // Make `kind` the open part: a new index unless it extends the open text or reasoning.
  void open(Open kind) {
    if (m_open != kind || kind == Open::call) {
      m_index = m_open == Open::none ? m_index : m_index + 1;
      m_open = kind;
    }
  }

  void read_part(const json& part, std::vector<ir::Event>& out) {
    if (!part.is_object()) {
      return;
    }
    if (const auto call = part.find("functionCall"); call != part.end() && call->is_object()) {
      open(Open::call);
      m_called = true;
      ir::Event start;
      start.kind = ir::Event::Kind::tool_call_start;
      start.index = m_index;
      start.id = string_at(*call, "id");
      if (start.id.empty()) {
        start.id = ir::make_call_id();
      }
      start.name = string_at(*call, "name");
      start.signature = string_at(part, "thoughtSignature");
      out.push_back(std::move(start));
      // Gemini sends a call's arguments whole, never in pieces.
      ir::Event args;
      args.kind = ir::Event::Kind::tool_args_delta;
      args.index = m_index;
      const auto given = call->find("args");
      args.text = given != call->end() && given->is_object() ? dump(*given) : "{}";
      out.push_back(std::move(args));
      return;
    }
    const std::string text = string_at(part, "text");
    if (flag_at(part, "thought")) {
      open(Open::reasoning);
      if (!text.empty()) {
        out.push_back(delta(ir::Event::Kind::reasoning_delta, text));
      }
      const std::string signature = string_at(part, "thoughtSignature");
      if (!signature.empty()) {
        out.push_back(delta(ir::Event::Kind::reasoning_signature, signature));
      }
    } else if (!text.empty()) {
      open(Open::text);
      out.push_back(delta(ir::Event::Kind::text_delta, text));
    }
  }

  ir::Event delta(ir::Event::Kind kind, const std::string& text) const {
    ir::Event event;
    event.kind = kind;
    event.index = m_index;
    event.text = text;
    return event;
  }

  SseParser m_parser;
  bool m_started = false;
  bool m_ended = false;
  bool m_called = false;
  Open m_open = Open::none;
  size_t m_index = 0;
  ir::Finish m_finish = ir::Finish::stop;
  ir::Usage m_usage;
};

class GeminiStreamWriter : public StreamWriter {
public:
  GeminiStreamWriter(const ir::Conversation& request, const RequestSite& site)
      : m_sse(site.sse), m_model(request.model) {}

  void write(const ir::Event& event, std::string& out) override {
    if (m_done) {
      return;
    }
    switch (event.kind) {
    case ir::Event::Kind::start:
      m_id = event.id;
      if (!event.model.empty()) {
        m_model = event.model;
      }
      m_start_usage = event.usage;
      break;
    case ir::Event::Kind::text_delta:
      switch_to(Open::text, event.index, out);
      if (!event.text.empty()) {
        emit_parts(json::array({{{"text", event.text}}}), out);
      }
      break;
    case ir::Event::Kind::reasoning_delta:
      switch_to(Open::reasoning, event.index, out);
      if (!event.text.empty()) {
        emit_parts(json::array({thought_part(event.text, "")}), out);
      }
      break;
    case ir::Event::Kind::reasoning_signature:
      switch_to(Open::reasoning, event.index, out);
      if (!event.redacted) {
        emit_parts(json::array({thought_part("", event.text)}), out);
      }
      break;
    case ir::Event::Kind::tool_call_start:
      close(out);
      m_open = Open::call;
      m_index = event.index;
      m_call = {event.id, event.name, "", event.signature};
      break;
    case ir::Event::Kind::tool_args_delta:
      if (m_open != Open::call || m_index != event.index) {
        close(out);
        m_open = Open::call;
        m_index = event.index;
        m_call = {};
      }
      m_call.arguments += event.text;
      break;
    case ir::Event::Kind::finish:
      end(event.finish, event.usage, out);
      break;
    case ir::Event::Kind::error: {
      close(out);
      const json error = {{"error",
                           {{"code", event.status > 0 ? event.status : 500},
                            {"message", event.text},
                            {"status", status_word(event.status)}}}};
      emit(error, out);
      m_done = true;
      break;
    }
    }
  }

  void finish(std::string& out) override {
    if (!m_done) {
      end(m_called ? ir::Finish::tool_calls : ir::Finish::stop, m_start_usage, out);
    }
    if (!m_sse && !m_closed) {
      out += m_opened ? "]" : "[]";
      m_closed = true;
    }
  }

private:
  enum class Open : std::uint8_t { none, text, reasoning, call };

  void emit(const json& chunk, std::string& out) {
    if (m_sse) {
      out += "data: " + dump(chunk) + "\r\n\r\n";
    } else {
      out += (m_opened ? ",\r\n" : "[") + dump(chunk);
      m_opened = true;
    }
  }

  json chunk_with(json candidate) const {
    json chunk = {{"candidates", json::array({std::move(candidate)})}};
    if (!m_model.empty()) {
      chunk["modelVersion"] = m_model;
    }
    if (!m_id.empty()) {
      chunk["responseId"] = m_id;
    }
    return chunk;
  }

  void emit_parts(json parts, std::string& out) {
    emit(chunk_with({{"content", {{"role", "model"}, {"parts", std::move(parts)}}}, {"index", 0}}),
         out);
  }

  void switch_to(Open kind, size_t index, std::string& out) {
    if (m_open != kind || m_index != index) {
      close(out);
      m_open = kind;
      m_index = index;
    }
  }

  // Close the open part. A tool call goes out only now: Gemini's functionCall carries its
  // arguments whole, so the format forces holding the argument deltas until the call ends.
  void close(std::string& out) {
    if (m_open == Open::call) {
      if (m_call.id.empty()) {
        m_call.id = ir::make_call_id();
      }
      emit_parts(json::array({call_part(m_call, true)}), out);
      m_called = true;
    }
    m_open = Open::none;
  }

  void end(ir::Finish finish, ir::Usage usage, std::string& out) {
    close(out);
    if (usage.input == 0) {
      usage.input = m_start_usage.input;
      usage.cached = std::max(usage.cached, m_start_usage.cached);
    }
    json chunk = chunk_with({{"content", {{"role", "model"}, {"parts", json::array()}}},
                             {"finishReason", finish_reason_of(finish)},
                             {"index", 0}});
    chunk["usageMetadata"] = usage_metadata(usage);
    emit(chunk, out);
    m_done = true;
  }

  bool m_sse;
  std::string m_model;
  std::string m_id;
  ir::Usage m_start_usage;
  Open m_open = Open::none;
  size_t m_index = 0;
  ir::ToolCall m_call;
  bool m_called = false;
  bool m_opened = false;
  bool m_closed = false;
  bool m_done = false;
};

class GeminiFamily : public Family {
public:
  ir::Conversation read_request(const json& body, const RequestSite& site) const override {
    return RequestReader(body, site).read();
  }

  WireRequest write_request(const ir::Conversation& conversation) const override {
    json body = json::object();
    json contents = json::array();
    std::string last_role;
    for (const ir::Message& message : conversation.messages) {
      json parts = request_parts(message, conversation.messages);
      if (parts.empty()) {
        continue;
      }
      const std::string role = message.role == ir::Role::assistant ? "model" : "user";
      if (contents.empty() && role == "model") {
        // Gemini refuses a history that opens with the model's turn (a trimmed history can):
        // a function call turn must follow a user turn.
        contents.push_back({{"role", "user"}, {"parts", json::array({{{"text", "."}}})}});
        last_role = "user";
      }
      if (role == last_role) {
        for (json& part : parts) {
          contents.back()["parts"].push_back(std::move(part));
        }
      } else {
        contents.push_back({{"role", role}, {"parts", std::move(parts)}});
        last_role = role;
      }
    }
    body["contents"] = std::move(contents);
    if (!conversation.system.empty()) {
      body["systemInstruction"] = {{"parts", json::array({{{"text", conversation.system}}})}};
    }
    if (!conversation.tools.empty()) {
      json declarations = json::array();
      for (const ir::Tool& tool : conversation.tools) {
        json declaration = {{"name", tool.name}};
        if (!tool.description.empty()) {
          declaration["description"] = tool.description;
        }
        json parameters = declaration_parameters(tool.parameters);
        if (!parameters.is_null()) {
          declaration["parameters"] = std::move(parameters);
        }
        declarations.push_back(std::move(declaration));
      }
      body["tools"] = json::array({{{"functionDeclarations", std::move(declarations)}}});
    }
    json calling = json::object();
    switch (conversation.tool_choice.mode) {
    case ir::ToolChoice::Mode::unset:
      break;
    case ir::ToolChoice::Mode::automatic:
      calling["mode"] = "AUTO";
      break;
    case ir::ToolChoice::Mode::none:
      calling["mode"] = "NONE";
      break;
    case ir::ToolChoice::Mode::required:
      calling["mode"] = "ANY";
      break;
    case ir::ToolChoice::Mode::tool:
      calling["mode"] = "ANY";
      calling["allowedFunctionNames"] = json::array({conversation.tool_choice.name});
      break;
    }
    if (!calling.empty()) {
      body["toolConfig"] = {{"functionCallingConfig", calling}};
    }
    json config = generation_config(conversation);
    if (!config.empty()) {
      body["generationConfig"] = std::move(config);
    }
    return {"/v1beta/models/" + conversation.model +
                (conversation.stream ? ":streamGenerateContent?alt=sse" : ":generateContent"),
            dump(body)};
  }

  ir::Answer read_answer(const json& body) const override {
    if (!body.is_object() || (!body.contains("candidates") && !body.contains("promptFeedback"))) {
      throw std::invalid_argument("a Gemini answer needs \"candidates\" or \"promptFeedback\"");
    }
    ir::Answer answer;
    answer.id = string_at(body, "responseId");
    answer.model = string_at(body, "modelVersion");
    answer.usage = usage_of(object_at(body, "usageMetadata"));
    const json& candidates = array_at(body, "candidates");
    if (!string_at(object_at(body, "promptFeedback"), "blockReason").empty()) {
      answer.finish = ir::Finish::content_filter;
    }
    if (candidates.empty() || !candidates[0].is_object()) {
      return answer;
    }
    const json& candidate = candidates[0];
    answer.finish = finish_of(string_at(candidate, "finishReason"));
    for (const json& part : array_at(object_at(candidate, "content"), "parts")) {
      if (!part.is_object()) {
        continue;
      }
      ir::Part out;
      if (const auto call = part.find("functionCall"); call != part.end() && call->is_object()) {
        out.kind = ir::Part::Kind::tool_call;
        out.call.id = string_at(*call, "id");
        if (out.call.id.empty()) {
          out.call.id = ir::make_call_id();
        }
        out.call.name = string_at(*call, "name");
        const auto args = call->find("args");
        out.call.arguments = args != call->end() && args->is_object() ? dump(*args) : "{}";
        out.call.signature = string_at(part, "thoughtSignature");
        answer.finish = ir::Finish::tool_calls;
      } else if (flag_at(part, "thought")) {
        out.kind = ir::Part::Kind::reasoning;
        out.reasoning.text = string_at(part, "text");
        out.reasoning.signature = string_at(part, "thoughtSignature");
      } else if (const auto data = part.find("inlineData"); data != part.end()) {
        out.kind = ir::Part::Kind::image;
        out.image.media_type = string_at(*data, "mimeType");
        out.image.data = string_at(*data, "data");
      } else if (part.contains("text")) {
        out.text = string_at(part, "text");
        if (out.text.empty()) {
          continue;
        }
      } else {
        continue;
      }
      answer.parts.push_back(std::move(out));
    }
    return answer;
  }

  std::string write_answer(const ir::Answer& answer,
                           const ir::Conversation& request) const override {
    json body = {
        {"candidates",
         json::array({{{"content", {{"role", "model"}, {"parts", answer_parts(answer.parts)}}},
                       {"finishReason", finish_reason_of(answer.finish)},
                       {"index", 0}}})},
        {"usageMetadata", usage_metadata(answer.usage)},
        {"modelVersion", answer.model.empty() ? request.model : answer.model}};
    if (!answer.id.empty()) {
      body["responseId"] = answer.id;
    }
    return dump(body);
  }

  std::unique_ptr<StreamReader> stream_reader() const override {
    return std::make_unique<GeminiStreamReader>();
  }

  std::unique_ptr<StreamWriter> stream_writer(const ir::Conversation& request,
                                              const RequestSite& site) const override {
    return std::make_unique<GeminiStreamWriter>(request, site);
  }

  std::string read_error_message(const json& body) const override {
    const json& error = body.is_array() && !body.empty() ? body[0] : body;
    return string_at(object_at(error, "error"), "message");
  }

  std::optional<ir::Usage> read_event_usage(const json& event) const override {
    // Every chunk may carry usageMetadata, each the whole so far.
    if (!event.is_object() || !event.contains("usageMetadata") ||
        !event["usageMetadata"].is_object()) {
      return std::nullopt;
    }
    return usage_of(event["usageMetadata"]);
  }
};

} // namespace

const Family& gemini_family() {
  static const GeminiFamily family;
  return family;
}

} // namespace agproxy
