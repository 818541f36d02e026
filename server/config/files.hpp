#pragma once

#include <optional>
#include <string>

namespace agproxy {

// Return the contents of the file at `path`, or nothing when it does not exist. Throws
// std::system_error (with the path in its message) when it exists but cannot be read.
std::optional<std::string> read_file_if_exists(const std::string& path);

// Replace the file at `path` with `content` atomically: a temporary file in the same directory,
// fsync, mode `mode`, rename over the target, fsync of the directory. Creates missing parent
// directories with mode 0700, and removes temporary files of writers that died mid-write.
// Throws std::system_error naming the path on failure.
void write_file_atomic(const std::string& path, const std::string& content, unsigned mode = 0600);

} // namespace agproxy
