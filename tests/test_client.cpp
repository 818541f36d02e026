// `agproxy client setup|show|undo`: the coding agents' own settings files, through the real binary
// with a throwaway HOME.
#include "tests/support.hpp"

#include <cstdlib>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

using namespace agproxy::test;
using nlohmann::json;

namespace {

// Create the parent directories of `path`, then write it.
void write_file(const std::string& path, const std::string& text) {
  const std::string dir = path.substr(0, path.rfind('/'));
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  write_text(path, text);
}

// A home directory with a proxy config (port 8045, key k_key).
struct Home {
  TempDir dir;
  Env env;

  Home() : env{{"HOME", dir.path()}} {
    write_file(dir.file(".config/agproxy/config.json"), config_json("strict", false, k_key));
  }

  std::string path(const std::string& name) const { return dir.file(name); }

  // Run `agproxy client ARGS`; no output may hold a key.
  RunResult client(std::vector<std::string> args) const {
    args.insert(args.begin(), "client");
    RunResult result = run_agproxy(args, env);
    CHECK(canaries_in(result.out + result.err).empty());
    return result;
  }
};

// Return the permission bits of `path` (0 when it does not exist).
unsigned mode_of(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? info.st_mode & 0777 : 0;
}

// Return whether `path` exists.
bool exists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0;
}

// A provider key that is not the proxy key; setup replaces or removes it and never prints it.
constexpr const char* k_old = "sk-ant-oldkey-0000000000000000deadbeef";

// Run setup for `agent` twice, with a dry run first, and check what every run must do.
void check_setup_cycle(const Home& home, const std::string& agent,
                       const std::vector<std::string>& files,
                       const std::vector<std::optional<std::string>>& originals) {
  const RunResult dry = home.client({"setup", agent, "--dry-run"});
  CHECK(dry.exit_code == 0);
  CHECK(contains(dry.out, "dry run: nothing written"));
  CHECK(contains(dry.out, "+++ "));
  CHECK_FALSE(contains(dry.out + dry.err, k_old));
  for (size_t i = 0; i < files.size(); ++i) {
    CHECK(exists(files[i]) == originals[i].has_value());
    if (originals[i]) {
      CHECK(read_text(files[i]) == *originals[i]);
    }
  }

  const RunResult first = home.client({"setup", agent});
  CHECK(first.exit_code == 0);
  CHECK(contains(first.out, "wrote "));
  CHECK(contains(first.out, "sk-…cdef"));
  CHECK_FALSE(contains(first.out + first.err, k_old));
  for (const std::string& file : files) {
    CHECK(mode_of(file) == 0600);
  }
  std::vector<std::string> written;
  for (const std::string& file : files) {
    written.push_back(read_text(file));
  }

  const RunResult again = home.client({"setup", agent});
  CHECK(again.exit_code == 0);
  CHECK(contains(again.out, "no change"));
  CHECK_FALSE(contains(again.out, "wrote "));
  for (size_t i = 0; i < files.size(); ++i) {
    CHECK(read_text(files[i]) == written[i]);
  }

  const RunResult show = home.client({"show", agent, "--json"});
  REQUIRE(show.exit_code == 0);
  const json wiring = json::parse(show.out)["agents"][0];
  CHECK(wiring["agent"] == agent);
  CHECK(wiring["key"]["matches_proxy_key"] == true);
  CHECK(wiring["base_url"]["is_proxy"] == true);
  CHECK(wiring["traps"].empty());

  const RunResult undo = home.client({"undo", agent});
  CHECK(undo.exit_code == 0);
  for (size_t i = 0; i < files.size(); ++i) {
    CHECK(exists(files[i]) == originals[i].has_value());
    if (originals[i]) {
      CHECK(read_text(files[i]) == *originals[i]);
    }
    CHECK_FALSE(exists(files[i] + ".agproxy-backup"));
    CHECK_FALSE(exists(files[i] + ".agproxy-created"));
  }
  CHECK(contains(home.client({"undo", agent}).out, "nothing to undo"));
}

} // namespace

TEST_CASE("client setup claude-code") {
  SUBCASE("empty home") {
    Home home;
    const std::string file = home.path(".claude/settings.json");
    check_setup_cycle(home, "claude-code", {file}, {std::nullopt});
    REQUIRE(home.client({"setup", "claude-code"}).exit_code == 0);
    const json settings = json::parse(read_text(file));
    CHECK(settings["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8045");
    CHECK(settings["env"]["ANTHROPIC_API_KEY"] == k_key);
  }
  SUBCASE("unrelated settings kept, in order; the conflicting token removed and named") {
    Home home;
    const std::string file = home.path(".claude/settings.json");
    const std::string original = R"({
  "model": "opus",
  "env": {
    "DISABLE_TELEMETRY": "1",
    "ANTHROPIC_AUTH_TOKEN": ")" + std::string(k_old) +
                                 R"("
  },
  "permissions": {"allow": ["Read"]}
}
)";
    write_file(file, original);
    const RunResult before = home.client({"show", "claude-code"});
    CHECK(contains(before.out, "NOT the proxy key"));
    CHECK(contains(home.client({"setup", "claude-code", "--dry-run"}).out,
                   "removed env.ANTHROPIC_AUTH_TOKEN"));
    check_setup_cycle(home, "claude-code", {file}, {original});
    REQUIRE(home.client({"setup", "claude-code"}).exit_code == 0);
    const nlohmann::ordered_json settings = nlohmann::ordered_json::parse(read_text(file));
    CHECK(settings.begin().key() == "model");
    CHECK(settings["permissions"]["allow"][0] == "Read");
    CHECK(settings["env"]["DISABLE_TELEMETRY"] == "1");
    CHECK(settings["env"].begin().key() == "DISABLE_TELEMETRY");
    CHECK_FALSE(settings["env"].contains("ANTHROPIC_AUTH_TOKEN"));
  }
  SUBCASE("show names the two-key trap from the environment") {
    Home home;
    Env env = home.env;
    env["ANTHROPIC_API_KEY"] = k_key;
    env["ANTHROPIC_AUTH_TOKEN"] = k_old;
    const RunResult show = run_agproxy({"client", "show", "claude-code", "--json"}, env);
    REQUIRE(show.exit_code == 0);
    CHECK_FALSE(contains(show.out, k_old));
    const json wiring = json::parse(show.out)["agents"][0];
    REQUIRE(wiring["traps"].size() == 1);
    CHECK(wiring["traps"][0]["id"] == "claude.both_keys");
    CHECK(wiring["key"]["matches_proxy_key"] == false);
  }
}

TEST_CASE("client setup codex") {
  SUBCASE("empty home") {
    Home home;
    const std::string file = home.path(".codex/config.toml");
    check_setup_cycle(home, "codex", {file}, {std::nullopt});
    REQUIRE(home.client({"setup", "codex"}).exit_code == 0);
    const std::string text = read_text(file);
    CHECK(contains(text, "model_provider = \"agproxy\""));
    CHECK(contains(text, "[model_providers.agproxy]"));
    CHECK(contains(text, "base_url = \"http://127.0.0.1:8045/v1\""));
    CHECK(contains(text, "wire_api = \"responses\""));
    CHECK(contains(text, std::string("experimental_bearer_token = \"") + k_key + "\""));
  }
  SUBCASE("comments and unrelated settings kept; env_key removed and named") {
    Home home;
    const std::string file = home.path(".codex/config.toml");
    const std::string original = "# my codex settings\n"
                                 "model = \"gpt-5\"  # the default model\n"
                                 "model_provider = \"openai\"\n"
                                 "\n"
                                 "[analytics]\n"
                                 "enabled = false # no telemetry\n"
                                 "\n"
                                 "[model_providers.agproxy]\n"
                                 "# written by hand\n"
                                 "name = \"agproxy\"\n"
                                 "base_url = \"http://127.0.0.1:9999/v1\"\n"
                                 "env_key = \"AGPROXY_KEY\"\n"
                                 "experimental_bearer_token = \"" +
                                 std::string(k_old) +
                                 "\"\n"
                                 "\n"
                                 "[model_providers.other]\n"
                                 "name = \"other\"\n";
    write_file(file, original);
    const json before = json::parse(home.client({"show", "codex", "--json"}).out)["agents"][0];
    CHECK(before["base_url"]["is_proxy"] == false); // model_provider "openai" picks OpenAI
    const RunResult dry = home.client({"setup", "codex", "--dry-run"});
    CHECK(contains(dry.out, "-env_key = \"AGPROXY_KEY\""));
    CHECK(contains(dry.out, "removed env_key"));
    check_setup_cycle(home, "codex", {file}, {original});
    REQUIRE(home.client({"setup", "codex"}).exit_code == 0);
    const std::string text = read_text(file);
    for (const char* kept : {"# my codex settings\n", "model = \"gpt-5\"  # the default model\n",
                             "[analytics]\nenabled = false # no telemetry\n", "# written by hand\n",
                             "[model_providers.other]\nname = \"other\"\n"}) {
      CHECK(contains(text, kept));
    }
    CHECK(contains(text, "model_provider = \"agproxy\"\n"));
    CHECK_FALSE(contains(text, "env_key"));
    CHECK_FALSE(contains(text, "9999"));
  }
  SUBCASE("show names an env_key naming an unset variable") {
    Home home;
    write_file(home.path(".codex/config.toml"),
               "model_provider = \"agproxy\"\n[model_providers.agproxy]\nname = \"agproxy\"\n"
               "base_url = \"http://127.0.0.1:8045/v1\"\nenv_key = \"AGPROXY_KEY\"\n");
    const json wiring = json::parse(home.client({"show", "codex", "--json"}).out)["agents"][0];
    REQUIRE(wiring["traps"].size() == 1);
    CHECK(wiring["traps"][0]["id"] == "codex.env_key_unset");
    CHECK(wiring["key"].is_null());
    Env env = home.env;
    env["AGPROXY_KEY"] = k_key;
    const RunResult set = run_agproxy({"client", "show", "codex", "--json"}, env);
    const json wired = json::parse(set.out)["agents"][0];
    CHECK(wired["traps"].empty());
    CHECK(wired["key"]["matches_proxy_key"] == true);
  }
  SUBCASE("a file that is not TOML is refused and left alone") {
    Home home;
    const std::string file = home.path(".codex/config.toml");
    write_file(file, "model = [unclosed\n");
    const RunResult result = home.client({"setup", "codex"});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "is not valid TOML"));
    CHECK(read_text(file) == "model = [unclosed\n");
  }
}

TEST_CASE("client setup gemini-cli") {
  SUBCASE("empty home") {
    Home home;
    const std::string settings = home.path(".gemini/settings.json");
    const std::string dotenv = home.path(".gemini/.env");
    check_setup_cycle(home, "gemini-cli", {settings, dotenv}, {std::nullopt, std::nullopt});
    REQUIRE(home.client({"setup", "gemini-cli"}).exit_code == 0);
    CHECK(json::parse(read_text(settings))["security"]["auth"]["selectedType"] == "gemini-api-key");
    CHECK(read_text(dotenv) == std::string("GEMINI_API_KEY=") + k_key +
                                   "\nGOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8045\n");
  }
  SUBCASE("unrelated settings kept; OAuth replaced; GOOGLE_API_KEY removed and named") {
    Home home;
    const std::string settings = home.path(".gemini/settings.json");
    const std::string dotenv = home.path(".gemini/.env");
    const std::string original_settings =
        R"({"general": {"vimMode": true}, "security": {"auth": {"selectedType": "oauth-personal"}, "folderTrust": {"enabled": true}}})"
        "\n";
    const std::string original_env =
        "# keys\nGOOGLE_API_KEY=" + std::string(k_old) + "\nGEMINI_MODEL=gemini-2.5-pro\n";
    write_file(settings, original_settings);
    write_file(dotenv, original_env);
    const json before = json::parse(home.client({"show", "gemini-cli", "--json"}).out);
    REQUIRE_FALSE(before["agents"][0]["traps"].empty());
    CHECK(before["agents"][0]["traps"][0]["id"] == "gemini.auth_type");
    CHECK(
        contains(home.client({"setup", "gemini-cli", "--dry-run"}).out, "removed GOOGLE_API_KEY"));
    check_setup_cycle(home, "gemini-cli", {settings, dotenv}, {original_settings, original_env});
    REQUIRE(home.client({"setup", "gemini-cli"}).exit_code == 0);
    const json written = json::parse(read_text(settings));
    CHECK(written["general"]["vimMode"] == true);
    CHECK(written["security"]["folderTrust"]["enabled"] == true);
    CHECK(read_text(dotenv) ==
          "# keys\nGEMINI_MODEL=gemini-2.5-pro\nGEMINI_API_KEY=" + std::string(k_key) +
              "\nGOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8045\n");
  }
}

TEST_CASE("client show and errors") {
  Home home;
  const RunResult all = home.client({"show"});
  CHECK(all.exit_code == 0);
  for (const char* agent : {"claude-code", "codex", "gemini-cli"}) {
    CHECK(contains(all.out, agent));
  }
  const json parsed = json::parse(home.client({"show", "--json"}).out);
  CHECK(parsed["agents"].size() == 3);
  CHECK(parsed["proxy"]["url"] == "http://127.0.0.1:8045");

  const RunResult unknown = home.client({"setup", "cursor"});
  CHECK(unknown.exit_code == 2);
  TempDir empty;
  const RunResult no_config = run_agproxy({"client", "setup", "codex"}, {{"HOME", empty.path()}});
  CHECK(no_config.exit_code == 1);
  CHECK(contains(no_config.err, "agproxy config init"));
  CHECK_FALSE(exists(empty.file(".codex/config.toml")));
}

TEST_CASE("client setup --model-map: models the proxy serves, for each agent") {
  Home home;
  // An upstream serving Gemini models, Claude names mapped onto them.
  json config = json::parse(config_json("strict", false, k_key));
  config["proxy"]["upstreams"] = {{{"name", "gemini"},
                                   {"protocol", "gemini"},
                                   {"base_url", "http://127.0.0.1:9"},
                                   {"api_keys", {"AIza-x"}},
                                   {"models", {"gemini-*"}},
                                   {"model_map", {{"claude-*haiku*", "gemini-2.5-flash"}}}}};
  write_file(home.path(".config/agproxy/config.json"), config.dump());

  RunResult result = home.client({"setup", "claude-code", "--model-map", "main=gemini-2.5-pro",
                                  "--model-map", "fast=claude-3-5-haiku"});
  REQUIRE(result.exit_code == 0);
  const json claude = json::parse(read_text(home.path(".claude/settings.json")));
  CHECK(claude["env"]["ANTHROPIC_MODEL"] == "gemini-2.5-pro");
  CHECK(claude["env"]["ANTHROPIC_SMALL_FAST_MODEL"] == "claude-3-5-haiku");
  CHECK(claude["env"]["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "claude-3-5-haiku");

  result = home.client({"setup", "codex", "--model-map", "main=gemini-2.5-pro"});
  REQUIRE(result.exit_code == 0);
  CHECK(contains(read_text(home.path(".codex/config.toml")), "model = \"gemini-2.5-pro\""));
  // Twice: no change.
  result = home.client({"setup", "codex", "--model-map", "main=gemini-2.5-pro"});
  CHECK(contains(result.out, "no change"));

  result = home.client({"setup", "gemini-cli", "--model-map", "main=gemini-2.5-flash"});
  REQUIRE(result.exit_code == 0);
  const json gemini = json::parse(read_text(home.path(".gemini/settings.json")));
  CHECK(gemini["model"]["name"] == "gemini-2.5-flash");

  // A model no upstream serves is refused, naming it; nothing is written.
  result = home.client({"setup", "gemini-cli", "--model-map", "main=gpt-5"});
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "'gpt-5'"));
  CHECK(json::parse(read_text(home.path(".gemini/settings.json")))["model"]["name"] ==
        "gemini-2.5-flash");
  // Bad roles are usage errors.
  CHECK(home.client({"setup", "codex", "--model-map", "fast=gemini-2.5-pro"}).exit_code == 2);
  CHECK(home.client({"setup", "codex", "--model-map", "gemini-2.5-pro"}).exit_code == 2);
}

TEST_CASE("client show asks the running proxy whether it accepts each agent's key") {
  Home home;
  ServeProcess server({"--config", home.path(".config/agproxy/config.json")}, {});
  // The agents are pointed at the port the server listens on.
  json config = json::parse(read_text(home.path(".config/agproxy/config.json")));
  config["proxy"]["port"] = server.port();
  write_file(home.path(".config/agproxy/config.json"), config.dump());
  REQUIRE(home.client({"setup", "gemini-cli"}).exit_code == 0);
  RunResult shown = home.client({"show", "gemini-cli", "--json"});
  REQUIRE(shown.exit_code == 0);
  json verdict = json::parse(shown.out)["agents"][0]["running_proxy"];
  CHECK(verdict["accepted"] == true);
  CHECK(verdict["status"] == 200);
  CHECK(contains(home.client({"show", "gemini-cli"}).out, "accepted by the running proxy"));
  // Another key in the agent's file: the proxy refuses it, and show says so with the reason.
  std::string dotenv = read_text(home.path(".gemini/.env"));
  dotenv.replace(dotenv.find(k_key), std::string(k_key).size(), k_other);
  write_file(home.path(".gemini/.env"), dotenv);
  shown = home.client({"show", "gemini-cli", "--json"});
  verdict = json::parse(shown.out)["agents"][0]["running_proxy"];
  CHECK(verdict["accepted"] == false);
  CHECK(verdict["status"] == 401);
  CHECK(verdict["reason"] == "invalid_api_key");
  CHECK(contains(home.client({"show", "gemini-cli"}).out, "REFUSED by the running proxy: 401"));
}
