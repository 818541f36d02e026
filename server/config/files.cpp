#include "server/config/files.hpp"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <signal.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace agproxy {

namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw std::system_error(errno, std::generic_category(), what + " " + path);
}

class FileDescriptor {
public:
  explicit FileDescriptor(int fd) : m_fd(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  int get() const { return m_fd; }
  // Close now and report whether the close succeeded (a failed close can mean lost data).
  bool close() {
    const int fd = m_fd;
    m_fd = -1;
    return ::close(fd) == 0;
  }

private:
  int m_fd;
};

void write_all(int fd, const std::string& content, const std::string& path) {
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("cannot write", path);
    }
    written += static_cast<size_t>(n);
  }
}

// Remove the temporary files that writers of `target` killed mid-write left behind: their names
// carry the writer's pid, and a pid that no longer exists cannot be writing.
void remove_orphaned_temporaries(const std::filesystem::path& dir, const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) {
      continue;
    }
    const std::string pid_text =
        name.substr(prefix.size(), name.find('.', prefix.size()) - prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos ||
        pid_text.size() > 9) {
      continue;
    }
    if (::kill(static_cast<pid_t>(std::stol(pid_text)), 0) != 0 && errno == ESRCH) {
      ::unlink(entry.path().c_str());
    }
  }
}

} // namespace

std::optional<std::string> read_file_if_exists(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    throw_errno("cannot open", path);
  }
  std::string content;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw_errno("cannot read", path);
    }
    if (n == 0) {
      break;
    }
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

void write_file_atomic(const std::string& path, const std::string& content, unsigned mode) {
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    // Only a directory made here is restricted; an existing one (a home directory) keeps its mode.
    if (ec || ::chmod(dir.c_str(), 0700) != 0) {
      throw std::system_error(ec ? ec : std::error_code(errno, std::generic_category()),
                              "cannot create directory " + dir.string());
    }
  }

  const std::string prefix = "." + target.filename().string() + ".tmp.";
  remove_orphaned_temporaries(dir, prefix);
  std::string temp = (dir / (prefix + std::to_string(::getpid()) + ".XXXXXX")).string();
  FileDescriptor fd(::mkstemp(temp.data())); // created with mode 0600
  if (fd.get() < 0) {
    throw_errno("cannot create a temporary file in", dir.string());
  }
  try {
    write_all(fd.get(), content, temp);
    if (::fchmod(fd.get(), mode) != 0) {
      throw_errno("cannot set the mode of", temp);
    }
    if (::fsync(fd.get()) != 0) {
      throw_errno("cannot fsync", temp);
    }
    if (!fd.close()) {
      throw_errno("cannot close", temp);
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      throw_errno("cannot replace", path);
    }
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  FileDescriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) {
    ::fsync(dir_fd.get()); // makes the rename durable; failure here cannot lose the old file
  }
}

} // namespace agproxy
