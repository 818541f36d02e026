#include "server/log.hpp"

#include "server/text.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace agproxy {

namespace {

std::string_view level_name(LogLevel level) {
  switch (level) {
  case LogLevel::debug:
    return "debug";
  case LogLevel::info:
    return "info";
  case LogLevel::warn:
    return "warn";
  case LogLevel::error:
    return "error";
  }
  return "info";
}

std::string timestamp() {
  return format_utc(std::chrono::system_clock::now());
}

bool needs_quotes(std::string_view value) {
  return value.empty() || value.find_first_of(" \"=\t") != std::string_view::npos;
}

void write_stderr(std::string_view line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) {
      return; // stderr is gone: nothing sensible to do with a log line
    }
    done += static_cast<size_t>(n);
  }
}

} // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (LogLevel level : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error}) {
    if (text == level_name(level)) {
      return level;
    }
  }
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") {
    return LogFormat::text;
  }
  if (text == "json") {
    return LogFormat::json;
  }
  return std::nullopt;
}

Logger::Logger(LogLevel level, LogFormat format, Sink sink)
    : m_level(level), m_format(format), m_sink(std::move(sink)) {}

void Logger::log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!enabled(level)) {
    return;
  }
  std::string line;
  if (m_format == LogFormat::json) {
    nlohmann::json object = {{"ts", timestamp()}, {"level", level_name(level)}, {"msg", message}};
    for (const LogField& field : fields) {
      object[std::string(field.key)] = field.raw
                                           ? nlohmann::json::parse(field.value, nullptr, false)
                                           : nlohmann::json(field.value);
    }
    line = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = timestamp() + " " + std::string(level_name(level)) + " " + std::string(message);
    for (const LogField& field : fields) {
      line += ' ';
      line += field.key;
      line += '=';
      line += needs_quotes(field.value)
                  ? nlohmann::json(field.value)
                        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  : field.value;
    }
  }
  line += '\n';
  emit(line);
}

void Logger::raw_text(std::string_view text) {
  if (m_format == LogFormat::text) {
    emit(std::string(text));
  }
}

void Logger::emit(const std::string& line) {
  std::lock_guard lock(m_mutex);
  if (m_sink) {
    m_sink(line);
  } else {
    write_stderr(line);
  }
}

} // namespace agproxy
