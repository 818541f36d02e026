#include "server/upstream/http1/response_parser.hpp"

#include <doctest/doctest.h>
#include <random>
#include <string>
#include <vector>

using namespace agproxy;

namespace {

using State = ResponseParser::State;
using Headers = std::vector<std::pair<std::string, std::string>>;

// What reading a response came to.
struct Parsed {
  State state;
  int status;
  Headers headers;
  std::string body;
  size_t used;
  bool keep_alive;
  std::string error;
};

// Read `input` cut into pieces of the sizes `cuts` gives (cycled; none: in one piece), then, when
// `eof`, note the close.
Parsed parse(std::string_view input, const std::vector<size_t>& cuts = {}, bool eof = false,
             bool head_request = false) {
  ResponseParser parser(head_request);
  Parsed out{};
  size_t at = 0;
  for (size_t i = 0; at < input.size(); ++i) {
    const size_t step = cuts.empty() ? input.size() : std::max<size_t>(1, cuts[i % cuts.size()]);
    const std::string_view piece = input.substr(at, step);
    const size_t used = parser.feed(piece, out.body);
    REQUIRE(used <= piece.size());
    out.used += used;
    at += piece.size();
    if (used < piece.size()) {
      break; // the rest is not the message's
    }
  }
  if (eof) {
    parser.feed_eof();
  }
  out.state = parser.state();
  out.status = parser.status();
  out.headers = parser.headers();
  out.keep_alive = parser.keep_alive();
  out.error = parser.error();
  return out;
}

// Return `input` read whole, and check that it reads the same byte by byte and in random cuts.
Parsed parse_every_way(std::string_view input, bool eof = false, bool head_request = false) {
  const Parsed whole = parse(input, {}, eof, head_request);
  std::mt19937 random(static_cast<unsigned>(input.size()));
  std::vector<std::vector<size_t>> ways{{1}, {2}, {3}, {7}};
  for (int i = 0; i < 20; ++i) {
    std::vector<size_t> cuts;
    for (int j = 0; j < 5; ++j) {
      cuts.push_back(std::uniform_int_distribution<size_t>(1, 40)(random));
    }
    ways.push_back(cuts);
  }
  for (const auto& cuts : ways) {
    const Parsed cut = parse(input, cuts, eof, head_request);
    CHECK(cut.state == whole.state);
    CHECK(cut.status == whole.status);
    CHECK(cut.headers == whole.headers);
    CHECK(cut.body == whole.body);
    CHECK(cut.keep_alive == whole.keep_alive);
    CHECK(cut.error == whole.error);
    if (whole.state == State::done) {
      CHECK(cut.used == whole.used);
    }
  }
  return whole;
}

// Return the error that `input` fails with (empty when it does not fail).
std::string failure(std::string_view input, bool eof = false) {
  const Parsed parsed = parse_every_way(input, eof);
  CHECK(parsed.state == State::failed);
  CHECK_FALSE(parsed.keep_alive);
  return parsed.state == State::failed ? parsed.error : std::string();
}

} // namespace

TEST_CASE("ResponseParser: a Content-Length body") {
  const std::string input = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 11\r\n\r\n{\"ok\":true}";
  const Parsed parsed = parse_every_way(input);
  CHECK(parsed.state == State::done);
  CHECK(parsed.status == 200);
  CHECK(parsed.headers == Headers{{"Content-Type", "application/json"}, {"Content-Length", "11"}});
  CHECK(parsed.body == "{\"ok\":true}");
  CHECK(parsed.used == input.size());
  CHECK(parsed.keep_alive);
}

TEST_CASE("ResponseParser: a head in pieces is not done before its blank line") {
  ResponseParser parser;
  std::string body;
  const std::string_view start = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
  CHECK(parser.feed(start, body) == start.size());
  CHECK(parser.state() == State::head);
  CHECK_FALSE(parser.head_done());
  CHECK(parser.status() == 0);
  CHECK(parser.feed("\r\nh", body) == 3);
  CHECK(parser.head_done());
  CHECK(parser.state() == State::body);
  CHECK(parser.status() == 200);
  CHECK(parser.feed("i", body) == 1);
  CHECK(parser.state() == State::done);
  CHECK(body == "hi");
}

TEST_CASE("ResponseParser: a chunked body with extensions and trailers") {
  const std::string input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5;name=value\r\nhello\r\n"
                            "7; a=\"b c\"\r\n, world\r\n"
                            "0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n";
  const Parsed parsed = parse_every_way(input);
  CHECK(parsed.state == State::done);
  CHECK(parsed.body == "hello, world");
  CHECK(parsed.used == input.size());
  CHECK(parsed.keep_alive);
  CHECK(parsed.headers == Headers{{"Transfer-Encoding", "chunked"}});
}

TEST_CASE("ResponseParser: a body delimited by the close") {
  const std::string input = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it";
  const Parsed open = parse_every_way(input);
  CHECK(open.state == State::body);
  CHECK(open.body == "all of it");
  const Parsed closed = parse_every_way(input, true);
  CHECK(closed.state == State::done);
  CHECK(closed.body == "all of it");
  CHECK(closed.used == input.size());
  CHECK_FALSE(closed.keep_alive);
}

TEST_CASE("ResponseParser: a response to HEAD has no body") {
  const std::string input = "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
  const Parsed parsed = parse_every_way(input, false, true);
  CHECK(parsed.state == State::done);
  CHECK(parsed.body.empty());
  CHECK(parsed.keep_alive);
  const Parsed chunked =
      parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, true);
  CHECK(chunked.state == State::done);
  CHECK(chunked.keep_alive);
  // Not even a Content-Length that would fail a GET.
  CHECK(parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, true).state ==
        State::done);
}

TEST_CASE("ResponseParser: 204 and 304 have no body whatever Content-Length says") {
  for (const char* status : {"204 No Content", "304 Not Modified"}) {
    CAPTURE(status);
    const std::string input =
        std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 42\r\n\r\nNEXT";
    const Parsed parsed = parse_every_way(input);
    CHECK(parsed.state == State::done);
    CHECK(parsed.body.empty());
    CHECK(parsed.used == input.size() - 4);
    CHECK(parsed.keep_alive);
  }
}

TEST_CASE("ResponseParser: 100 Continue then 200") {
  const std::string input = "HTTP/1.1 100 Continue\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const Parsed parsed = parse_every_way(input);
  CHECK(parsed.state == State::done);
  CHECK(parsed.status == 200);
  CHECK(parsed.headers == Headers{{"Content-Length", "2"}});
  CHECK(parsed.body == "ok");
  CHECK(parsed.used == input.size());
}

TEST_CASE("ResponseParser: 103 Early Hints and 102 Processing then 200") {
  const std::string input = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
                            "Content-Length: 99\r\n\r\n"
                            "HTTP/1.1 102 Processing\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok";
  const Parsed parsed = parse_every_way(input);
  CHECK(parsed.state == State::done);
  CHECK(parsed.status == 200);
  // The interim responses' headers are not the final one's.
  CHECK(parsed.headers == Headers{{"Content-Length", "2"}, {"X-Final", "yes"}});
  CHECK(parsed.body == "ok");
}

TEST_CASE("ResponseParser: an interim response alone is no head") {
  ResponseParser parser;
  std::string body;
  parser.feed("HTTP/1.1 100 Continue\r\n\r\n", body);
  CHECK(parser.state() == State::head);
  CHECK_FALSE(parser.head_done());
  CHECK(parser.status() == 0);
  parser.feed_eof();
  CHECK(parser.state() == State::failed);
  CHECK_FALSE(parser.nothing_received());
}

TEST_CASE("ResponseParser: status line forms") {
  struct Row {
    const char* line;
    int status;
  };
  const Row table[] = {
      {"HTTP/1.1 200 OK", 200},       {"HTTP/1.1 200 ", 200},
      {"HTTP/1.1 200", 200},          {"HTTP/1.0 404 Not Found", 404},
      {"HTTP/1.1 999 Whatever", 999}, {"HTTP/1.1 429 Too Many Requests: with ; odd \t chars", 429},
  };
  for (const Row& row : table) {
    CAPTURE(row.line);
    const Parsed parsed = parse_every_way(std::string(row.line) + "\r\nContent-Length: 0\r\n\r\n");
    CHECK(parsed.state == State::done);
    CHECK(parsed.status == row.status);
  }
}

TEST_CASE("ResponseParser: a bad status line fails") {
  for (const char* line :
       {"HTTP/1.1 099 Low", "HTTP/1.1 20 Short", "HTTP/1.1 2000 Long", "HTTP/1.1 20x Letters",
        "HTTP/2 200 OK", "HTTP/1.1  200 OK", "http/1.1 200 OK", "HTTP/1.1 200OK", "ICY 200 OK", "",
        " HTTP/1.1 200", "HTTP/1.x 200 OK", "HTTP/1.1\t200 OK"}) {
    CAPTURE(line);
    CHECK(failure(std::string(line) + "\r\nContent-Length: 0\r\n\r\n") == "bad status line");
  }
}

TEST_CASE("ResponseParser: 101 fails") {
  CHECK(failure("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n") ==
        "101 Switching Protocols, and agproxy never asks to upgrade");
}

TEST_CASE("ResponseParser: a header line without a colon fails") {
  CHECK(failure("HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n") == "a header line without a colon");
  // In an interim response too.
  CHECK(failure("HTTP/1.1 100 Continue\r\nnothing\r\n\r\nHTTP/1.1 204 \r\n\r\n") ==
        "a header line without a colon");
}

TEST_CASE("ResponseParser: a header name that is not a token fails") {
  for (const char* line : {"Content-Length : 0", ": empty", "X Y: z", "X(y): z", "X\x01Y: z",
                           "X\rY: z", "\xc3\xa9: z"}) {
    CAPTURE(line);
    CHECK(failure(std::string("HTTP/1.1 200 OK\r\n") + line + "\r\n\r\n") ==
          "a header name that is not a token");
  }
}

TEST_CASE("ResponseParser: obs-fold fails") {
  for (const char* fold : {" folded", "\tfolded"}) {
    CAPTURE(fold);
    CHECK(failure(std::string("HTTP/1.1 200 OK\r\nX-Long: first\r\n") + fold +
                  "\r\nContent-Length: 0\r\n\r\n") ==
          "a header line starts with whitespace (obs-fold)");
  }
  // Whitespace between the status line and the first header is the same thing.
  CHECK(failure("HTTP/1.1 200 OK\r\n X: y\r\n\r\n") ==
        "a header line starts with whitespace (obs-fold)");
}

TEST_CASE("ResponseParser: a head over 256 KiB fails") {
  const std::string start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
  // A head of exactly 256 KiB is read; one byte more is not, whether its line has ended or not.
  const std::string filler(256 * 1024 - start.size() - std::string("X: \r\n\r\n").size(), 'a');
  const std::string exact = start + "X: " + filler + "\r\n\r\n";
  REQUIRE(exact.size() == 256 * 1024);
  CHECK(parse(exact).state == State::done);
  CHECK(parse(exact, {1000}).state == State::done);
  const std::string over = start + "X: a" + filler + "\r\n\r\n";
  CHECK(parse(over).error == "response head over 256 KiB");
  CHECK(parse(over, {1000}).error == "response head over 256 KiB");
  // A line not ended yet counts as it comes.
  const std::string unended = over.substr(0, over.size() - 4) + "aaaa";
  CHECK(parse(unended).error == "response head over 256 KiB");
  CHECK(parse(unended, {1000}).error == "response head over 256 KiB");
  // Interim responses count: a server cannot stream them forever.
  std::string interims;
  while (interims.size() <= 256 * 1024) {
    interims += "HTTP/1.1 102 Processing\r\n\r\n";
  }
  CHECK(parse(interims).error == "response head over 256 KiB");
}

TEST_CASE("ResponseParser: Content-Length forms") {
  struct Row {
    const char* headers;
    const char* body; // nullptr: fails
  };
  const Row table[] = {
      {"Content-Length: 3\r\n", "abc"},
      {"Content-Length:3\r\n", "abc"},
      {"Content-Length: \t3 \t\r\n", "abc"},
      {"content-length: 3\r\n", "abc"},
      {"Content-Length: 003\r\n", "abc"},
      {"Content-Length: 3\r\nContent-Length: 3\r\n", "abc"},
      {"Content-Length: 3, 3\r\n", "abc"},
      {"Content-Length: 3,3,,3\r\n", "abc"},
      {"Content-Length: 0\r\n", ""},
      {"Content-Length: 3\r\nContent-Length: 4\r\n", nullptr},
      {"Content-Length: 3, 4\r\n", nullptr},
      {"Content-Length: -3\r\n", nullptr},
      {"Content-Length: +3\r\n", nullptr},
      {"Content-Length: 3a\r\n", nullptr},
      {"Content-Length: 0x3\r\n", nullptr},
      {"Content-Length: 3 3\r\n", nullptr},
      {"Content-Length: \r\n", nullptr},
      {"Content-Length: ,\r\n", nullptr},
      {"Content-Length: 18446744073709551616\r\n", nullptr},
      {"Content-Length: 99999999999999999999999\r\n", nullptr},
      {"Content-Length: 3\x01\r\n", nullptr},
  };
  for (const Row& row : table) {
    CAPTURE(row.headers);
    const Parsed parsed =
        parse_every_way(std::string("HTTP/1.1 200 OK\r\n") + row.headers + "\r\nabcdef");
    if (row.body == nullptr) {
      CHECK(parsed.state == State::failed);
      CHECK((parsed.error == "a Content-Length that is not a number" ||
             parsed.error == "Content-Length values that differ"));
    } else {
      CHECK(parsed.state == State::done);
      CHECK(parsed.body == row.body);
    }
  }
  // The largest value is read (and owed).
  const Parsed huge = parse("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc");
  CHECK(huge.state == State::body);
  CHECK(huge.body == "abc");
}

TEST_CASE("ResponseParser: Transfer-Encoding framing") {
  const std::string chunks = "3\r\nabc\r\n0\r\n\r\n";
  SUBCASE("chunked last is chunked") {
    for (const char* te : {"chunked", "Chunked", "gzip, chunked", "gzip,chunked ",
                           "gzip\r\nTransfer-Encoding: chunked"}) {
      CAPTURE(te);
      const Parsed parsed = parse_every_way(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: ") +
                                            te + "\r\n\r\n" + chunks);
      CHECK(parsed.state == State::done);
      CHECK(parsed.body == "abc");
      CHECK(parsed.keep_alive);
    }
  }
  SUBCASE("any other last coding runs to the close") {
    for (const char* te : {"gzip", "chunked, gzip", "chunked\r\nTransfer-Encoding: gzip", ""}) {
      CAPTURE(te);
      const Parsed parsed = parse_every_way(
          std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: ") + te + "\r\n\r\n" + chunks, true);
      CHECK(parsed.state == State::done);
      CHECK(parsed.body == chunks);
      CHECK_FALSE(parsed.keep_alive);
    }
  }
  SUBCASE("Transfer-Encoding wins over Content-Length, and the connection is not reused") {
    const std::string input =
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks;
    const Parsed parsed = parse_every_way(input);
    CHECK(parsed.state == State::done);
    CHECK(parsed.body == "abc");
    CHECK(parsed.used == input.size());
    CHECK_FALSE(parsed.keep_alive);
    // Even a Content-Length that would fail alone.
    CHECK(parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: "
                          "x\r\n\r\n" +
                          chunks)
              .state == State::done);
  }
  SUBCASE("a control character in it fails") {
    CHECK(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\x01\r\n\r\n" + chunks) ==
          "a control character in Transfer-Encoding");
  }
}

TEST_CASE("ResponseParser: bad chunked framing fails") {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const char* body : {"x\r\n", "3\r\nabcd\r\n", "3\r\nabc\r\r", "-1\r\n", " 3\r\nabc\r\n",
                           "3\nabc\n0\n\n", "3;\x01\r\nabc\r\n"}) {
    CAPTURE(body);
    CHECK(failure(head + body) == "bad chunked framing");
  }
}

TEST_CASE("ResponseParser: bare LF line ends in the head") {
  const Parsed parsed = parse_every_way("HTTP/1.1 200 OK\nX-A: 1\r\nX-B: 2\n\nok", true);
  CHECK(parsed.state == State::done);
  CHECK(parsed.headers == Headers{{"X-A", "1"}, {"X-B", "2"}});
  CHECK(parsed.body == "ok");
}

TEST_CASE("ResponseParser: feed_eof") {
  SUBCASE("before any byte") {
    ResponseParser parser;
    parser.feed_eof();
    CHECK(parser.state() == State::failed);
    CHECK(parser.nothing_received());
    CHECK(parser.error() == "connection closed before the response");
  }
  SUBCASE("an empty feed is no byte") {
    ResponseParser parser;
    std::string body;
    CHECK(parser.feed("", body) == 0);
    parser.feed_eof();
    CHECK(parser.nothing_received());
  }
  SUBCASE("inside the head") {
    const std::string error = failure("HTTP/1.1 200 OK\r\nContent-Len", true);
    CHECK(error == "connection closed inside the response head");
    ResponseParser parser;
    std::string body;
    parser.feed("H", body);
    parser.feed_eof();
    CHECK_FALSE(parser.nothing_received());
  }
  SUBCASE("Content-Length unfinished") {
    CHECK(failure("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", true) ==
          "connection closed before Content-Length bytes came");
  }
  SUBCASE("chunked unfinished") {
    CHECK(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", true) ==
          "connection closed inside the chunked body");
  }
  SUBCASE("a close-delimited body ends") {
    CHECK(parse_every_way("HTTP/1.1 200 OK\r\n\r\nabc", true).state == State::done);
  }
  SUBCASE("after the end it changes nothing") {
    const Parsed parsed = parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", true);
    CHECK(parsed.state == State::done);
    CHECK(parsed.keep_alive);
  }
}

TEST_CASE("ResponseParser: keep_alive") {
  struct Row {
    const char* response;
    bool keep_alive;
  };
  const Row table[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
      {"HTTP/1.1 204 No Content\r\n\r\n", true},
      {"HTTP/1.1 304 Not Modified\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: upgrade, x-close\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nconnection: CLOSE\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nConnection: x\r\nConnection: \tclose \r\nContent-Length: 0\r\n\r\n",
       false},
      {"HTTP/1.1 200 OK\r\nConnection: close\x01\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 204 No Content\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", false},
  };
  for (const Row& row : table) {
    CAPTURE(row.response);
    CHECK(parse_every_way(row.response, true).keep_alive == row.keep_alive);
  }
  // Not before the head is in.
  ResponseParser parser;
  std::string body;
  parser.feed("HTTP/1.1 200 OK\r\n", body);
  CHECK_FALSE(parser.keep_alive());
}

TEST_CASE("ResponseParser: header values with control characters are dropped") {
  const std::string input = std::string("HTTP/1.1 200 OK\r\nX-Before: 1\r\n"
                                        "X-Cr: a\rb\r\nX-Nul: a") +
                            '\0' + "b\r\nX-Del: a\x7f\r\nX-Esc: \x1b[31m\r\n" +
                            "X-Tab: a\tb\r\nX-High: caf\xc3\xa9\r\nX-After:  2 \t\r\n"
                            "X-Empty:\r\nContent-Length: 0\r\n\r\n";
  const Parsed parsed = parse_every_way(input);
  CHECK(parsed.state == State::done);
  CHECK(parsed.headers == Headers{{"X-Before", "1"},
                                  {"X-Tab", "a\tb"},
                                  {"X-High", "caf\xc3\xa9"},
                                  {"X-After", "2"},
                                  {"X-Empty", ""},
                                  {"Content-Length", "0"}});
}

TEST_CASE("ResponseParser: bytes after the message are not used") {
  struct Row {
    std::string message;
    bool head_request;
  };
  const Row table[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: x\r\n\r\n", false},
      {"HTTP/1.1 204 No Content\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
  };
  for (const Row& row : table) {
    CAPTURE(row.message);
    for (const char* after : {"HTTP/1.1 200 OK\r\n\r\n", "\r\n", "x"}) {
      const Parsed parsed = parse_every_way(row.message + after, false, row.head_request);
      CHECK(parsed.state == State::done);
      CHECK(parsed.used == row.message.size());
    }
    ResponseParser parser(row.head_request);
    std::string body;
    CHECK(parser.feed(row.message, body) == row.message.size());
    CHECK(parser.state() == State::done);
    const std::string before = body;
    CHECK(parser.feed("more", body) == 0);
    CHECK(body == before);
  }
}

TEST_CASE("ResponseParser: feed appends to what the body holds") {
  ResponseParser parser;
  std::string body = "kept:";
  parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", body);
  CHECK(body == "kept:abc");
}

TEST_CASE("ResponseParser: the same outcome however the input is cut") {
  // parse_every_way() checks it; here on responses where the cut falls in every awkward place.
  const char* inputs[] = {
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
      "X-A: b\r\n\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n1\r\n!\r\n0\r\nT: 1\r\n\r\nNEXT",
      "HTTP/1.1 200 OK\nContent-Length: 10\n\n0123456789NEXT",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\nde",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nX: y\r\nbad line\r\n\r\n",
  };
  for (const char* input : inputs) {
    CAPTURE(input);
    parse_every_way(input);
    parse_every_way(input, true);
  }
}
