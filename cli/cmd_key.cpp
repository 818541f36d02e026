#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "server/auth/secret.hpp"

#include <iostream>
#include <memory>

namespace agproxy::cli {

namespace {

struct KeyFlags {
  CommonOptions common;
  bool reveal = false;
  std::string new_key;
};

// Load the config for a command that changes it, creating the file when there is none.
ConfigDocument load_for_update(const KeyFlags& flags) {
  const ConfigLocation location = locate_config(flags.common.config_path, process_environment());
  ConfigDocument document = load_config(location.path);
  if (!document.exists) {
    ConfigDocument fresh = default_config(location.path);
    fresh.exists = false;
    return fresh;
  }
  return document;
}

void warn_if_env_overrides() {
  if (auto value = process_environment()("AGPROXY_API_KEY"); value && !value->empty()) {
    print_note("AGPROXY_API_KEY is set in this environment and overrides the key in the file "
               "for processes started from it");
  }
}

void print_saved_key(const KeyFlags& flags, const ConfigDocument& document, bool created) {
  const std::string& key = document.settings.api_key;
  if (flags.common.json) {
    std::cout << nlohmann::json{{"api_key", mask_secret(key)},
                                {"fingerprint", fingerprint(key)},
                                {"config", document.path},
                                {"created", created}}
                     .dump()
              << "\n";
  } else {
    std::cout << mask_secret(key) << "\n";
    std::cerr << (created ? "created " : "saved to ") << document.path
              << "; a running agproxy serve uses it within 1 s\n";
  }
  warn_if_env_overrides();
}

int show_key(const KeyFlags& flags) {
  const Environment env = process_environment();
  const ConfigLocation location = locate_config(flags.common.config_path, env);
  const ConfigDocument document = load_config(location.path);
  const EffectiveSettings effective = apply_overrides(document.settings, env, {});
  const bool from_env = !effective.overridden.empty() &&
                        std::any_of(effective.overridden.begin(), effective.overridden.end(),
                                    [](const auto& o) { return o.first == "proxy.api_key"; });
  if (!document.exists && !from_env) {
    throw Error("no config file at " + location.path +
                "; create one with 'agproxy config init' (or start 'agproxy serve')");
  }
  const std::string& key = effective.settings.api_key;
  if (!effective.settings.api_key_present) {
    throw Error("proxy.api_key is not set in " + location.path +
                "; set one with 'agproxy key regenerate'");
  }
  const std::string shown = flags.reveal ? key : mask_secret(key);
  if (flags.common.json) {
    std::cout << nlohmann::json{{"api_key", shown},
                                {"revealed", flags.reveal},
                                {"fingerprint", fingerprint(key)},
                                {"source", from_env ? "AGPROXY_API_KEY" : "file"},
                                {"config", location.path}}
                     .dump()
              << "\n";
  } else {
    std::cout << shown << "\n";
    if (from_env) {
      print_note("the key comes from AGPROXY_API_KEY, which overrides " + location.path);
    }
    if (key.empty()) {
      print_note("the key is empty: with auth on, every request is denied");
    }
  }
  return k_exit_ok;
}

} // namespace

void add_key_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<KeyFlags>();
  CLI::App* key = app.add_subcommand("key", "Show, regenerate or set the proxy key");
  key->require_subcommand(1);
  key->footer("Exit status: 0 success, 1 error (no config file, unreadable or invalid file), "
              "2 usage error.");

  CLI::App* show = key->add_subcommand("show", "Print the proxy key, masked unless --reveal");
  add_config_option(*show, flags->common);
  add_json_option(*show, flags->common, "the key and where it comes from");
  show->add_flag("--reveal", flags->reveal,
                 "Print the whole key (for scripts: $(agproxy key show --reveal))");
  show->callback([flags, &exit_code] { exit_code = show_key(*flags); });

  CLI::App* regenerate =
      key->add_subcommand("regenerate", "Replace the proxy key with a new random one and save it");
  add_config_option(*regenerate, flags->common);
  add_json_option(*regenerate, flags->common, "the new masked key");
  regenerate->callback([flags, &exit_code] {
    ConfigDocument document = load_for_update(*flags);
    const bool created = !document.exists;
    set_api_key(document, generate_api_key());
    save_config(document);
    print_saved_key(*flags, document, created);
    exit_code = k_exit_ok;
  });

  CLI::App* set = key->add_subcommand("set", "Set the proxy key to KEY and save it");
  add_config_option(*set, flags->common);
  add_json_option(*set, flags->common, "the new masked key");
  set->add_option("KEY", flags->new_key,
                  "The new key; '-' reads it from stdin (keeps it out of shell history)")
      ->required();
  set->callback([flags, &exit_code] {
    std::string value = flags->new_key;
    if (value == "-") {
      std::getline(std::cin, value);
      if (!value.empty() && value.back() == '\r') {
        value.pop_back();
      }
    }
    if (value.empty()) {
      throw Error("KEY is empty; an empty key denies every request while auth is on. Use "
                  "'agproxy key regenerate' for a random one");
    }
    if (auto problem = check_api_key(value)) {
      throw Error("KEY: " + *problem);
    }
    ConfigDocument document = load_for_update(*flags);
    const bool created = !document.exists;
    set_api_key(document, value);
    save_config(document);
    print_saved_key(*flags, document, created);
    exit_code = k_exit_ok;
  });
}

} // namespace agproxy::cli
