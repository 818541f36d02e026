#include "server/config/config.hpp"
#include "server/config/files.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

using namespace agproxy;
using agproxy::test::contains;
using agproxy::test::TempDir;
using nlohmann::json;

namespace {

Environment env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

} // namespace

TEST_CASE("locate_config follows the discovery order") {
  const auto all =
      env_of({{"AGPROXY_CONFIG", "/e/c.json"}, {"XDG_CONFIG_HOME", "/x"}, {"HOME", "/h"}});
  CHECK(locate_config(std::string("/f.json"), all).path == "/f.json");
  CHECK(locate_config(std::string("/f.json"), all).source == PathSource::flag);
  CHECK(locate_config(std::nullopt, all).path == "/e/c.json");
  CHECK(locate_config(std::nullopt, env_of({{"XDG_CONFIG_HOME", "/x"}, {"HOME", "/h"}})).path ==
        "/x/agproxy/config.json");
  CHECK(locate_config(std::nullopt, env_of({{"HOME", "/h"}})).path ==
        "/h/.config/agproxy/config.json");
  CHECK(contains(error_of([] { (void)locate_config(std::nullopt, env_of({})); }), "--config"));
}

TEST_CASE("parse_config: defaults and fields") {
  const ConfigDocument empty = parse_config("{}", "/c.json");
  CHECK(empty.settings.port == 8045);
  CHECK(empty.settings.auth_mode == AuthMode::auto_);
  CHECK_FALSE(empty.settings.allow_lan_access);
  CHECK_FALSE(empty.settings.api_key_present);
  CHECK(empty.settings.request_timeout == 120);

  const ConfigDocument full = parse_config(R"({"proxy":{
      "port": 9000, "allow_lan_access": true, "auth_mode": "strict", "api_key": "sk-abc",
      "request_timeout": 30, "echo_model": false,
      "upstreams": [{"name": "oa", "protocol": "openai", "base_url": "https://api.openai.com",
                     "api_keys": ["sk-proj-1", "env:OPENAI_KEY"], "models": ["gpt-*", "o3"],
                     "model_map": {"fast": "gpt-4o-mini"}}]}})",
                                           "/c.json");
  CHECK(full.settings.port == 9000);
  CHECK(full.settings.allow_lan_access);
  CHECK(full.settings.auth_mode == AuthMode::strict);
  CHECK(full.settings.api_key == "sk-abc");
  CHECK(full.settings.request_timeout == 30);
  CHECK(full.settings.echo_model == false);
  REQUIRE(full.settings.upstreams.size() == 1);
  const Upstream& up = full.settings.upstreams[0];
  CHECK(up.protocol == Protocol::openai);
  CHECK(up.models == std::vector<std::string>{"gpt-*", "o3"});
  CHECK(up.model_map.at(0).second == "gpt-4o-mini");
  CHECK(resolve_api_keys(up, 0, env_of({{"OPENAI_KEY", "sk-from-env"}})) ==
        std::vector<std::string>{"sk-proj-1", "sk-from-env"});
  const std::string unset = error_of([&] { (void)resolve_api_keys(up, 0, env_of({})); });
  CHECK(contains(unset, "proxy.upstreams[0].api_keys[1]"));
  CHECK(contains(unset, "OPENAI_KEY"));
}

TEST_CASE("parse_config: errors name the field, the value and the file") {
  struct Row {
    const char* text;
    std::vector<std::string> expected;
  };
  const Row table[] = {
      {R"({"proxy":{"auth_mode":"sometimes"}})",
       {"proxy.auth_mode", "\"sometimes\"", "off, strict, all_except_health, auto", "/cfg.json"}},
      {R"({"proxy":{"port":70000}})",
       {"proxy.port", "70000", "out of range", "1 to 65535", "/cfg.json"}},
      {R"({"proxy":{"port":0}})", {"proxy.port", "out of range"}},
      {R"({"proxy":{"port":"8045"}})", {"proxy.port", "found a string \"8045\""}},
      {R"({"proxy":{"port":80.5}})", {"proxy.port", "fraction"}},
      {R"({"proxy":{"allow_lan_access":"yes"}})", {"proxy.allow_lan_access", "true or false"}},
      {R"({"proxy":{"api_key":42}})", {"proxy.api_key", "expected a string"}},
      {R"({"proxy":{"api_key":"sk with space"}})", {"proxy.api_key", "value not shown"}},
      {R"({"proxy":{"request_timeout":0}})", {"proxy.request_timeout", "out of range"}},
      {R"({"proxy":{"upstreams":{}}})", {"proxy.upstreams", "an array"}},
      {R"({"proxy":{"upstreams":[{"protocol":"openai","base_url":"http://x"}]}})",
       {"proxy.upstreams[0].name", "missing"}},
      {R"({"proxy":{"upstreams":[{"name":"a","protocol":"grpc","base_url":"http://x"}]}})",
       {"proxy.upstreams[0].protocol", "\"grpc\"", "openai, openai-responses, anthropic, gemini"}},
      {R"({"proxy":{"upstreams":[{"name":"a","protocol":"openai","base_url":"ftp://x"}]}})",
       {"proxy.upstreams[0].base_url", "http"}},
      {R"({"proxy":{"upstreams":[{"name":"a","protocol":"openai","base_url":"http://x","api_keys":["env:1BAD"]}]}})",
       {"proxy.upstreams[0].api_keys[0]", "environment variable"}},
      {R"({"proxy":{"upstreams":[{"name":"a","protocol":"openai","base_url":"http://x"},
                                 {"name":"a","protocol":"gemini","base_url":"http://y"}]}})",
       {"proxy.upstreams[1].name", "used by another"}},
      {R"({"proxy":{"echo_model":"on"}})", {"proxy.echo_model"}},
      {R"({"proxy":[]})", {"proxy", "an object"}},
      {R"([1,2])", {"top level", "JSON object"}},
      {R"({"proxy":{"port":8045,}})", {"/cfg.json is not valid JSON", "line 1"}},
      {"", {"/cfg.json is not valid JSON"}},
      // Found by tests/fuzz: a number too large for a double was an uncaught exception.
      {R"({"proxy":{"port":7E777777}})", {"/cfg.json is not valid JSON", "number overflow"}},
  };
  for (const Row& row : table) {
    CAPTURE(row.text);
    const std::string message = error_of([&] { (void)parse_config(row.text, "/cfg.json"); });
    for (const std::string& part : row.expected) {
      CAPTURE(message);
      CHECK(contains(message, part));
    }
  }
  // A secret is never echoed back in an error.
  const std::string secret_error =
      error_of([] { (void)parse_config(R"({"proxy":{"api_key":"sk-SECRET VALUE"}})", "/c"); });
  CHECK_FALSE(contains(secret_error, "SECRET"));
}

TEST_CASE("load_config: missing and unreadable files") {
  TempDir dir;
  const ConfigDocument missing = load_config(dir.file("none.json"));
  CHECK_FALSE(missing.exists);
  CHECK(missing.settings.port == 8045);
  // A directory where the file should be cannot be read, even by root.
  std::filesystem::create_directory(dir.file("dir.json"));
  const std::string message = error_of([&] { (void)load_config(dir.file("dir.json")); });
  CHECK(contains(message, "cannot read the config file"));
  CHECK(contains(message, dir.file("dir.json")));
}

TEST_CASE("apply_overrides: flags over environment over file") {
  ProxySettings file;
  file.port = 9000;
  file.api_key = "sk-file-key-000000";
  file.api_key_present = true;

  const EffectiveSettings none = apply_overrides(file, env_of({}), {});
  CHECK(none.settings.port == 9000);
  CHECK(none.overridden.empty());

  const auto env = env_of({{"AGPROXY_PORT", "9100"},
                           {"AGPROXY_AUTH_MODE", "strict"},
                           {"AGPROXY_ALLOW_LAN_ACCESS", "yes"},
                           {"AGPROXY_API_KEY", "sk-env-key-0000000"}});
  const EffectiveSettings from_env = apply_overrides(file, env, {});
  CHECK(from_env.settings.port == 9100);
  CHECK(from_env.settings.auth_mode == AuthMode::strict);
  CHECK(from_env.settings.allow_lan_access);
  CHECK(from_env.settings.api_key == "sk-env-key-0000000");
  CHECK(from_env.overridden.size() == 4);

  Overrides flags;
  flags.port = 9200;
  flags.auth_mode = AuthMode::off;
  flags.api_key = "sk-flag-key-000000";
  flags.allow_lan_access = false;
  const EffectiveSettings from_flags = apply_overrides(file, env, flags);
  CHECK(from_flags.settings.port == 9200);
  CHECK(from_flags.settings.auth_mode == AuthMode::off);
  CHECK(from_flags.settings.api_key == "sk-flag-key-000000");
  CHECK_FALSE(from_flags.settings.allow_lan_access);

  CHECK(contains(error_of([&] {
                   (void)apply_overrides(file, env_of({{"AGPROXY_PORT", "99999"}}), {});
                 }),
                 "AGPROXY_PORT: \"99999\""));
  CHECK(contains(error_of([&] {
                   (void)apply_overrides(file, env_of({{"AGPROXY_AUTH_MODE", "on"}}), {});
                 }),
                 "AGPROXY_AUTH_MODE: \"on\" is not an auth mode"));
  CHECK(contains(error_of([&] {
                   (void)apply_overrides(file, env_of({{"AGPROXY_ALLOW_LAN_ACCESS", "maybe"}}), {});
                 }),
                 "AGPROXY_ALLOW_LAN_ACCESS"));
  const std::string bad_key = error_of([&] {
    (void)apply_overrides(file, env_of({{"AGPROXY_API_KEY", "a b"}}), {});
  });
  CHECK(contains(bad_key, "AGPROXY_API_KEY"));
  CHECK_FALSE(contains(bad_key, "a b"));
  // An empty variable counts as unset.
  CHECK(apply_overrides(file, env_of({{"AGPROXY_PORT", ""}}), {}).settings.port == 9000);
}

TEST_CASE("save_config: atomic, mode 0600, unknown fields kept") {
  TempDir dir;
  const std::string path = dir.file("sub/gui_config.json");
  std::filesystem::create_directories(dir.file("sub"));
  // An Antigravity Tools file: our fields under "proxy" beside its own, plus other top-level
  // objects.
  agproxy::test::write_text(path, R"({
    "language": "en", "theme": "dark", "auto_refresh": true,
    "proxy": {"enabled": true, "port": 8045, "api_key": "sk-antigravity-0000000000000000",
              "auto_start": false, "allow_lan_access": true, "auth_mode": "auto",
              "request_timeout": 120, "enable_logging": true,
              "upstream_proxy": {"enabled": false, "url": ""},
              "anthropic_mapping": {"claude-3": "gemini-2.5-pro"},
              "zai": {"enabled": false, "api_key": "zai-secret-value-123456"}},
    "scheduling": {"mode": "balance"}
  })");
  ConfigDocument document = load_config(path);
  CHECK(document.settings.allow_lan_access);
  CHECK(effective_auth_mode(document.settings.auth_mode, document.settings.allow_lan_access) ==
        AuthMode::all_except_health);

  set_api_key(document, "sk-new-key-000000000000000000000");
  save_config(document);
  struct stat info {};
  REQUIRE(stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);

  const json saved = json::parse(agproxy::test::read_text(path));
  CHECK(saved["proxy"]["api_key"] == "sk-new-key-000000000000000000000");
  CHECK(saved["language"] == "en");
  CHECK(saved["scheduling"]["mode"] == "balance");
  CHECK(saved["proxy"]["enabled"] == true);
  CHECK(saved["proxy"]["upstream_proxy"]["enabled"] == false);
  CHECK(saved["proxy"]["anthropic_mapping"]["claude-3"] == "gemini-2.5-pro");
  // No temporary file is left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.file("sub"))) {
    ++entries;
  }
  CHECK(entries == 1);

  // Every secret-named field is masked for display, wherever it is.
  const json masked = masked_config(saved);
  CHECK(masked["proxy"]["api_key"] == "sk-…0000");
  CHECK(masked["proxy"]["zai"]["api_key"] == "…3456");
  CHECK(masked["proxy"]["auth_mode"] == "auto");
}

TEST_CASE("write_file_atomic creates a private directory") {
  TempDir dir;
  const std::string path = dir.file("new/agproxy/config.json");
  write_file_atomic(path, "{}\n");
  struct stat info {};
  REQUIRE(stat(dir.file("new/agproxy").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
  CHECK(agproxy::test::read_text(path) == "{}\n");
}

TEST_CASE("default_config") {
  const ConfigDocument document = default_config("/x/config.json");
  CHECK(document.settings.api_key.starts_with("sk-"));
  CHECK(document.settings.api_key.size() == 35);
  CHECK(document.json["proxy"]["auth_mode"] == "auto");
  CHECK(document.json["proxy"]["port"] == 8045);
  CHECK(document.json["proxy"]["upstreams"].is_array());
}

TEST_CASE("write_file_atomic removes what dead writers left, not what live ones hold") {
  TempDir dir;
  const std::string path = dir.file("config.json");
  const std::string dead = dir.file(".config.json.tmp.999999999.abcdef"); // no such pid
  const std::string live = dir.file(".config.json.tmp." + std::to_string(getpid()) + ".abcdef");
  const std::string other = dir.file(".other.json.tmp.999999999.abcdef");
  for (const std::string& file : {dead, live, other}) {
    agproxy::test::write_text(file, "{");
  }
  write_file_atomic(path, "{}\n");
  CHECK_FALSE(std::filesystem::exists(dead));
  CHECK(std::filesystem::exists(live));
  CHECK(std::filesystem::exists(other));
}
