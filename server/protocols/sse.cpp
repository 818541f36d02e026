#include "server/protocols/sse.hpp"

namespace agproxy {

void SseFraming::feed(std::string_view bytes) {
  for (const char byte : bytes) {
    switch (byte) {
    case '\n':
      switch (m_state) {
      case State::in_line:
      case State::line_end_cr: // the LF of a CRLF that ended a line with content
        m_state = State::line_end;
        break;
      case State::line_end:    // an empty line: the event ends
      case State::boundary:    // an empty line between events
      case State::boundary_cr: // the LF of a CRLF that ended an empty line
        m_state = State::boundary;
        break;
      }
      break;
    case '\r':
      m_state = m_state == State::in_line ? State::line_end_cr : State::boundary_cr;
      break;
    default:
      m_state = State::in_line;
      break;
    }
  }
}

void SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  for (const char byte : bytes) {
    if (byte == '\n' && m_after_cr) {
      m_after_cr = false; // the LF of a CRLF
      continue;
    }
    m_after_cr = byte == '\r';
    if (byte == '\n' || byte == '\r') {
      line(out);
      m_line.clear();
    } else {
      m_line += byte;
    }
  }
}

void SseParser::finish(std::vector<SseEvent>& out) {
  if (!m_line.empty()) {
    line(out);
    m_line.clear();
  }
  if (m_has_data) {
    out.push_back(std::move(m_event));
  }
  m_event = {};
  m_has_data = false;
}

void SseParser::line(std::vector<SseEvent>& out) {
  if (m_line.empty()) {
    if (m_has_data) {
      out.push_back(std::move(m_event));
    }
    m_event = {};
    m_has_data = false;
    return;
  }
  if (m_line.front() == ':') {
    return;
  }
  const size_t colon = m_line.find(':');
  const std::string_view field = std::string_view(m_line).substr(0, colon);
  std::string_view value;
  if (colon != std::string::npos) {
    value = std::string_view(m_line).substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    if (m_has_data) {
      m_event.data += '\n';
    }
    m_event.data += value;
    m_has_data = true;
  } else if (field == "event") {
    m_event.name = value;
  }
}

} // namespace agproxy
