#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy {

// Follows a text/event-stream as it passes through, byte by byte, to tell whether the bytes so far
// end at an event boundary: where a line of our own (a heartbeat comment) can be inserted without
// changing any event. Lines end with CRLF, LF or CR (WHATWG HTML, "Server-sent events"); an empty
// line ends an event. Chunks may split lines and terminators anywhere.
class SseFraming {
public:
  // Consume the next bytes of the stream.
  void feed(std::string_view bytes);
  // Return whether the bytes consumed so far end at an event boundary (true before any byte).
  bool at_boundary() const { return m_state == State::boundary || m_state == State::boundary_cr; }

private:
  enum class State : std::uint8_t {
    boundary,    // at an event boundary; the last terminator was not a lone CR
    boundary_cr, // at an event boundary after a CR (an LF next completes that CRLF)
    in_line,     // inside a line with content
    line_end,    // a line with content ended with LF
    line_end_cr, // a line with content ended with CR (an LF next completes that CRLF)
  };
  State m_state = State::boundary;
};

// One event of a text/event-stream: its "event:" name ("" when it has none) and its "data:"
// lines joined with LF.
struct SseEvent {
  std::string name;
  std::string data;
};

// Reads a text/event-stream into events (WHATWG HTML, "Server-sent events"): lines end with CRLF,
// LF or CR, comments and unknown fields are skipped, an empty line dispatches an event with data.
// Any cut of the input into feed() calls yields the same events.
class SseParser {
public:
  // Consume the next bytes; append the events they complete to `out`.
  void feed(std::string_view bytes, std::vector<SseEvent>& out);
  // The stream ended: append an event left without its blank line, as many providers end so.
  void finish(std::vector<SseEvent>& out);

private:
  void line(std::vector<SseEvent>& out);
  std::string m_line;
  bool m_after_cr = false;
  bool m_has_data = false;
  SseEvent m_event;
};

} // namespace agproxy
