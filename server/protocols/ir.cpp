#include "server/protocols/ir.hpp"

#include <algorithm>
#include <cctype>
#include <openssl/rand.h>
#include <stdexcept>
#include <string_view>

namespace agproxy::ir {

namespace {

// Between a call id and the thoughtSignature folded into it. Ids the families make never hold it.
constexpr std::string_view k_signature_mark = "__sig__";
// The same, for a signature that is not standard base64 (which Gemini's are): it follows in
// base64url, whatever its bytes.
constexpr std::string_view k_encoded_signature_mark = "__sigx__";

constexpr std::string_view k_base64url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Signatures are standard base64; ids travel in JSON strings and some clients check them against
// [A-Za-z0-9_-]+, so the signature's '+', '/' and '=' are swapped for '-', '_' and '.'.
std::string to_id_safe(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    c = c == '+' ? '-' : c == '/' ? '_' : c == '=' ? '.' : c;
  }
  return out;
}

std::string from_id_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = c == '-' ? '+' : c == '_' ? '/' : c == '.' ? '=' : c;
  }
  return out;
}

bool is_base64(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
  });
}

std::string base64url(std::string_view bytes) {
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (unsigned char byte : bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += k_base64url[(value >> bits) & 63];
    }
  }
  if (bits > 0) {
    out += k_base64url[(value << (6 - bits)) & 63];
  }
  return out;
}

std::string from_base64url(std::string_view text) {
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (char c : text) {
    const size_t digit = k_base64url.find(c);
    if (digit == std::string_view::npos) {
      break;
    }
    value = (value << 6) | static_cast<unsigned>(digit);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  return out;
}

} // namespace

std::string join_call_id(const std::string& id, const std::string& signature) {
  if (signature.empty()) {
    return id;
  }
  if (!is_base64(signature)) {
    return id + std::string(k_encoded_signature_mark) + base64url(signature);
  }
  return id + std::string(k_signature_mark) + to_id_safe(signature);
}

std::pair<std::string, std::string> split_call_id(const std::string& id) {
  const size_t encoded = id.find(k_encoded_signature_mark);
  if (encoded != std::string::npos) {
    return {id.substr(0, encoded),
            from_base64url(std::string_view(id).substr(encoded + k_encoded_signature_mark.size()))};
  }
  const size_t mark = id.find(k_signature_mark);
  if (mark == std::string::npos) {
    return {id, ""};
  }
  return {id.substr(0, mark),
          from_id_safe(std::string_view(id).substr(mark + k_signature_mark.size()))};
}

std::string make_call_id() {
  unsigned char random[24];
  if (RAND_bytes(random, sizeof random) != 1) {
    throw std::runtime_error("no random bytes for a tool call id");
  }
  std::string id = "call_";
  for (unsigned char byte : random) {
    id += k_base64url[byte % 62]; // letters and digits only
  }
  return id;
}

Image image_from_url(const std::string& url) {
  Image image;
  if (!url.starts_with("data:")) {
    image.url = url;
    return image;
  }
  constexpr std::string_view base64_mark = ";base64,";
  const size_t mark = url.find(base64_mark);
  if (mark == std::string::npos) {
    throw std::invalid_argument("image data URL is not base64");
  }
  image.media_type = url.substr(5, mark - 5);
  image.data = url.substr(mark + base64_mark.size());
  return image;
}

std::string image_url(const Image& image) {
  return image.data.empty() ? image.url : "data:" + image.media_type + ";base64," + image.data;
}

std::string joined_text(const std::vector<Part>& parts) {
  std::string text;
  for (const Part& part : parts) {
    if (part.kind == Part::Kind::text) {
      text += part.text;
    }
  }
  return text;
}

} // namespace agproxy::ir
