// Crash safety: `agproxy key regenerate` killed with SIGKILL at random points never leaves a broken
// config, and a server reloading the file meanwhile never reads a half-written one.
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <random>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace agproxy::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Start `agproxy key regenerate --config PATH` and SIGKILL it after `delay` (never, when zero).
void regenerate_and_kill(const std::string& path, std::chrono::microseconds delay) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execl(AGPROXY_BINARY, AGPROXY_BINARY, "key", "regenerate", "--config", path.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  if (delay.count() > 0) {
    std::this_thread::sleep_for(delay);
    kill(pid, SIGKILL);
  }
  int status = 0;
  waitpid(pid, &status, 0);
}

} // namespace

TEST_CASE("crash safety: key regenerate killed 200 times at random points") {
  TempDir dir;
  const std::string path = dir.file("config.json");
  write_text(path, config_json("strict", false, k_key));
  ::chmod(path.c_str(), 0600);
  ServeProcess server({"--config", path}, {});

  int changed = 0;
  std::string previous = k_key;
  auto previous_key_from_file = [](const std::string& file, std::string& key) {
    key = json::parse(read_text(file))["proxy"]["api_key"];
  };
  // Kill points spread over one and a half times what a whole run takes on this build and machine.
  const auto start = std::chrono::steady_clock::now();
  regenerate_and_kill(path, std::chrono::microseconds(0));
  const auto whole = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  std::mt19937 random(20261127);
  std::uniform_int_distribution<long> delay_us(1, whole.count() * 3 / 2);
  previous_key_from_file(path, previous);
  for (int i = 0; i < 200; ++i) {
    regenerate_and_kill(path, std::chrono::microseconds(delay_us(random)));
    const json document = json::parse(read_text(path), nullptr, false);
    REQUIRE_MESSAGE(document.is_object(), "not JSON after kill " << i);
    const std::string key = document["proxy"]["api_key"];
    REQUIRE(key.size() == 35);
    struct stat info {};
    REQUIRE(stat(path.c_str(), &info) == 0);
    REQUIRE((info.st_mode & 0777) == 0600);
    changed += key != previous;
    previous = key;
  }
  const size_t before_cleanup = std::distance(std::filesystem::directory_iterator(dir.path()),
                                              std::filesystem::directory_iterator());
  regenerate_and_kill(path, std::chrono::microseconds(0)); // a whole run tidies up after the dead
  previous_key_from_file(path, previous);
  size_t leftovers = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    leftovers += entry.path().filename().string().starts_with(".config.json.tmp.");
  }
  MESSAGE(changed << " of 200 killed runs had replaced the key before they died; "
                  << before_cleanup - 1 << " temporary files were left by runs killed mid-write");
  CHECK(leftovers == 0);
  CHECK(changed > 0);   // some kills came after the rename,
  CHECK(changed < 200); // and some before it

  // The server followed along without ever reading a half-written file, and uses the last key.
  httplib::Client client("127.0.0.1", server.port());
  bool accepted = false;
  for (int i = 0; i < 50 && !accepted; ++i) {
    auto result = client.Get("/v1/models", {{"Authorization", "Bearer " + previous}});
    accepted = result && result->status == 200;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(accepted);
  CHECK_FALSE(contains(server.log(), "config reload refused"));
}
