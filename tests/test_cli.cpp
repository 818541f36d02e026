// The command line as a user meets it: the real binary, run as a child process.
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <regex>
#include <sys/stat.h>

using namespace agproxy::test;
using nlohmann::json;

TEST_CASE("cli: help, version and mistyped commands") {
  const RunResult help = run_agproxy({"--help"}, {});
  CHECK(help.exit_code == 0);
  for (const char* command : {"serve", "key", "config", "version"}) {
    CHECK(contains(help.out, command));
  }
  const RunResult version = run_agproxy({"--version"}, {});
  CHECK(version.exit_code == 0);
  CHECK(std::regex_search(version.out, std::regex(R"(^agproxy \d+\.\d+\.\d+)")));
  CHECK(json::parse(run_agproxy({"version", "--json"}, {}).out).contains("version"));

  const RunResult typo = run_agproxy({"serv"}, {});
  CHECK(typo.exit_code == 2);
  CHECK(
      contains(typo.err, "agproxy: error: unknown command 'serv'; did you mean 'agproxy serve'?"));
  const RunResult action = run_agproxy({"key", "regen"}, {});
  CHECK(action.exit_code == 2);
  CHECK(contains(action.err, "did you mean 'agproxy key regenerate'?"));
  const RunResult unknown = run_agproxy({"frobnicate"}, {});
  CHECK(unknown.exit_code == 2);
  CHECK(contains(unknown.err, "unknown command 'frobnicate'"));
  const RunResult bad_flag = run_agproxy({"serve", "--auth-mode", "sometimes"}, {});
  CHECK(bad_flag.exit_code == 2);
  CHECK(contains(bad_flag.err, "agproxy: error: "));
  CHECK(contains(bad_flag.err, "--auth-mode"));
  const RunResult no_command = run_agproxy({}, {});
  CHECK(no_command.exit_code == 2);
}

TEST_CASE("cli: config init, path, show, validate") {
  TempDir dir;
  const Env env = {{"HOME", dir.path()}};
  const std::string expected = dir.path() + "/.config/agproxy/config.json";

  const RunResult path = run_agproxy({"config", "path", "--json"}, env);
  CHECK(path.exit_code == 0);
  CHECK(json::parse(path.out) ==
        json{{"path", expected}, {"source", "default location"}, {"exists", false}});
  CHECK(run_agproxy({"config", "path"}, {{"HOME", dir.path()}, {"XDG_CONFIG_HOME", dir.file("x")}})
            .out == dir.file("x") + "/agproxy/config.json\n");
  CHECK(run_agproxy({"config", "path"}, {{"AGPROXY_CONFIG", dir.file("a.json")}}).out ==
        dir.file("a.json") + "\n");

  const RunResult init = run_agproxy({"config", "init"}, env);
  CHECK(init.exit_code == 0);
  CHECK(init.out == expected + "\n");
  struct stat info {};
  REQUIRE(stat(expected.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  const std::string key = json::parse(read_text(expected))["proxy"]["api_key"];
  CHECK(std::regex_match(key, std::regex("sk-[0-9a-f]{32}")));

  const RunResult again = run_agproxy({"config", "init"}, env);
  CHECK(again.exit_code == 1);
  CHECK(contains(again.err, "already exists"));
  CHECK(json::parse(read_text(expected))["proxy"]["api_key"] == key);

  const RunResult show = run_agproxy({"config", "show"}, env);
  CHECK(show.exit_code == 0);
  CHECK_FALSE(contains(show.out + show.err, key));
  CHECK(json::parse(show.out)["proxy"]["api_key"] == "sk-…" + key.substr(key.size() - 4));

  const RunResult valid = run_agproxy({"config", "validate", "--json"}, env);
  CHECK(valid.exit_code == 0);
  CHECK(json::parse(valid.out)["valid"] == true);
  CHECK(json::parse(valid.out)["effective_auth_mode"] == "off");
  CHECK_FALSE(contains(valid.out + valid.err, key));
}

TEST_CASE("cli: config validate reports bad files with the reason") {
  TempDir dir;
  struct Row {
    const char* content;
    const char* reason;
  };
  const Row table[] = {
      {"{ \"proxy\": { \"port\": 8045, } }", "is not valid JSON"},
      {R"({"proxy":{"auth_mode":"sometimes"}})",
       "proxy.auth_mode: \"sometimes\" is not an auth mode"},
      {R"({"proxy":{"port":65536}})", "proxy.port: 65536 is out of range"},
  };
  for (const Row& row : table) {
    CAPTURE(row.content);
    write_text(dir.file("c.json"), row.content);
    const RunResult text = run_agproxy({"config", "validate", "--config", dir.file("c.json")}, {});
    CHECK(text.exit_code == 1);
    CHECK(contains(text.err, "agproxy: error: "));
    CHECK(contains(text.err, row.reason));
    CHECK(contains(text.err, dir.file("c.json")));
    const RunResult as_json =
        run_agproxy({"config", "validate", "--json", "--config", dir.file("c.json")}, {});
    CHECK(as_json.exit_code == 1);
    CHECK(json::parse(as_json.out)["valid"] == false);
    CHECK(contains(json::parse(as_json.out)["error"].get<std::string>(), row.reason));
  }
  const RunResult missing =
      run_agproxy({"config", "validate", "--config", dir.file("no.json")}, {});
  CHECK(missing.exit_code == 1);
  CHECK(contains(missing.err, "no config file at"));
  const RunResult env_bad = run_agproxy({"config", "validate", "--config", dir.file("c.json")},
                                        {{"AGPROXY_PORT", "http"}});
  CHECK(env_bad.exit_code == 1);
}

TEST_CASE("cli: key show, regenerate, set") {
  TempDir dir;
  const std::string path = dir.file("config.json");
  const Env env = {{"AGPROXY_CONFIG", path}};

  const RunResult none = run_agproxy({"key", "show"}, env);
  CHECK(none.exit_code == 1);
  CHECK(contains(none.err, "agproxy config init"));

  const RunResult regenerated = run_agproxy({"key", "regenerate"}, env);
  CHECK(regenerated.exit_code == 0);
  const std::string key = json::parse(read_text(path))["proxy"]["api_key"];
  CHECK(regenerated.out == "sk-…" + key.substr(key.size() - 4) + "\n");
  CHECK_FALSE(contains(regenerated.out + regenerated.err, key));

  const RunResult shown = run_agproxy({"key", "show"}, env);
  CHECK(shown.exit_code == 0);
  CHECK(shown.out == "sk-…" + key.substr(key.size() - 4) + "\n");
  CHECK(run_agproxy({"key", "show", "--reveal"}, env).out == key + "\n");
  const json shown_json = json::parse(run_agproxy({"key", "show", "--json"}, env).out);
  CHECK(shown_json["revealed"] == false);
  CHECK(shown_json["source"] == "file");

  const RunResult second = run_agproxy({"key", "regenerate", "--json"}, env);
  CHECK(second.exit_code == 0);
  const std::string key2 = json::parse(read_text(path))["proxy"]["api_key"];
  CHECK(key2 != key);
  CHECK(json::parse(second.out)["api_key"] == "sk-…" + key2.substr(key2.size() - 4));

  const RunResult set = run_agproxy({"key", "set", "-"}, env, "sk-chosen-by-me-123456\n");
  CHECK(set.exit_code == 0);
  CHECK(json::parse(read_text(path))["proxy"]["api_key"] == "sk-chosen-by-me-123456");
  CHECK(set.out == "sk-…3456\n");

  const RunResult spaced = run_agproxy({"key", "set", "has space"}, env);
  CHECK(spaced.exit_code == 1);
  CHECK_FALSE(contains(spaced.err, "has space"));
  CHECK(run_agproxy({"key", "set", ""}, env).exit_code == 1);

  const RunResult from_env =
      run_agproxy({"key", "show", "--reveal"},
                  {{"AGPROXY_CONFIG", path}, {"AGPROXY_API_KEY", "sk-env-0000000000"}});
  CHECK(from_env.out == "sk-env-0000000000\n");
  CHECK(contains(from_env.err, "AGPROXY_API_KEY"));
}
