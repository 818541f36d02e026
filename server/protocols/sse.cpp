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

} // namespace agproxy
