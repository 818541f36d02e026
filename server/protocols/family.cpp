#include "server/protocols/family.hpp"

namespace agproxy {

const Family& family_of(Protocol protocol) {
  switch (protocol) {
  case Protocol::openai:
    return openai_chat_family();
  case Protocol::openai_responses:
    return openai_responses_family();
  case Protocol::anthropic:
    return anthropic_family();
  case Protocol::gemini:
    return gemini_family();
  }
  return openai_chat_family();
}

} // namespace agproxy
