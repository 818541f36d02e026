#pragma once

#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace agproxy {

// Log severities, lowest first.
enum class LogLevel { debug, info, warn, error };

// How log lines are written: human-readable text or one JSON object per line.
enum class LogFormat { text, json };

// Return the level named `text` (debug, info, warn, error), or nothing.
std::optional<LogLevel> parse_log_level(std::string_view text);

// Return the format named `text` (text, json), or nothing.
std::optional<LogFormat> parse_log_format(std::string_view text);

// One key/value pair of a log line. Values are never secrets: callers mask them first.
struct LogField {
  std::string_view key;
  std::string value;
  // Whether the value is a JSON number or boolean (written unquoted in JSON lines).
  bool raw = false;
};

// The one logger of a process: whole lines, written atomically to stderr (or a sink in tests).
class Logger {
public:
  using Sink = std::function<void(std::string_view line)>;

  // Build a logger that drops lines below `level`; writes to stderr when `sink` is empty.
  explicit Logger(LogLevel level = LogLevel::info, LogFormat format = LogFormat::text,
                  Sink sink = {});

  // Return whether a line at `level` would be written.
  bool enabled(LogLevel level) const { return level >= m_level; }
  // Return the line format.
  LogFormat format() const { return m_format; }

  // Write `message` with `fields` at `level`.
  void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
  // Write `message` at info level.
  void info(std::string_view message, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::info, message, fields);
  }
  // Write `message` at warn level.
  void warn(std::string_view message, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::warn, message, fields);
  }
  // Write `message` at error level.
  void error(std::string_view message, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::error, message, fields);
  }
  // Write `text` as it is in text format (for the start-up banner); JSON format writes nothing.
  void raw_text(std::string_view text);

private:
  void emit(const std::string& line);

  LogLevel m_level;
  LogFormat m_format;
  Sink m_sink;
  std::mutex m_mutex;
};

} // namespace agproxy
