#include "server/protocols/families/wire.hpp"

#include <chrono>

namespace agproxy::wire {

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const auto byte = [&](size_t at) {
      return static_cast<unsigned char>(bytes[at]);
    };
    const unsigned char lead = byte(i);
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF; // the range of the second byte
    if (lead < 0x80) {
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      low = lead == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
      high = lead == 0xED ? 0x9F : 0xBF; // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      low = lead == 0xF0 ? 0x90 : 0x80;
      high = lead == 0xF4 ? 0x8F : 0xBF; // nothing above U+10FFFF
    }
    bool valid = length > 0 && i + length <= bytes.size();
    for (size_t k = 1; valid && k < length; ++k) {
      valid = k == 1 ? byte(i + k) >= low && byte(i + k) <= high
                     : byte(i + k) >= 0x80 && byte(i + k) <= 0xBF;
    }
    if (valid) {
      out.append(bytes.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

const json* member(const json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string make_id(std::string_view prefix) {
  return std::string(prefix) + ir::make_call_id().substr(std::string_view("call_").size());
}

json arguments_object(const std::string& arguments) {
  json input = json::parse(valid_utf8(arguments), nullptr, false);
  return input.is_object() ? input : json::object();
}

bool openai_reasoning_model(const std::string& model) {
  for (const std::string_view prefix : {"o1", "o3", "o4", "gpt-5"}) {
    if (model.starts_with(prefix)) {
      return true;
    }
  }
  return false;
}

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace agproxy::wire
