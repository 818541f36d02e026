#include "server/protocols/sse.hpp"

#include <doctest/doctest.h>
#include <string>

using namespace agproxy;

namespace {

bool boundary_after(std::string_view stream) {
  SseFraming framing;
  framing.feed(stream);
  return framing.at_boundary();
}

} // namespace

TEST_CASE("SseFraming::at_boundary") {
  struct Row {
    const char* stream;
    bool boundary;
  };
  const Row table[] = {
      {"", true},
      {"data: x", false},
      {"data: x\n", false},
      {"data: x\n\n", true},
      {"data: x\r\n", false},
      {"data: x\r\n\r\n", true},
      {"data: x\r", false},
      {"data: x\r\r", true},
      {"data: x\n\r\n", true},
      {"data: x\r\n\n", true},
      {"data: x\n\r", true},
      {"data: x\n\ndata: y", false},
      {"data: x\n\ndata: y\n", false},
      {"\n", true},
      {"\r\n", true},
      {":\n\n", true},
      {"event: a\ndata: b\n\n", true},
  };
  for (const Row& row : table) {
    CAPTURE(row.stream);
    CHECK(boundary_after(row.stream) == row.boundary);
  }
}

TEST_CASE("SseFraming::feed: the answer does not depend on how the stream was cut") {
  const std::string streams[] = {"data: x\r\n\r\ndata: y\r\n\r\n", "data: x\n\ndata: y\n",
                                 "data: x\r\rdata: y\r", "a\r\n\rb\n\r\n"};
  for (const std::string& stream : streams) {
    for (size_t end = 0; end <= stream.size(); ++end) {
      for (size_t cut = 0; cut <= end; ++cut) {
        SseFraming framing;
        framing.feed(std::string_view(stream).substr(0, cut));
        framing.feed(std::string_view(stream).substr(cut, end - cut));
        CAPTURE(stream);
        CAPTURE(end);
        CAPTURE(cut);
        CHECK(framing.at_boundary() == boundary_after(std::string_view(stream).substr(0, end)));
      }
    }
  }
}
