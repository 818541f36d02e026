#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "server/auth/secret.hpp"

#include <filesystem>
#include <iostream>
#include <memory>

namespace agproxy::cli {

namespace {

struct ConfigFlags {
  CommonOptions common;
  bool force = false;
};

int print_path(const ConfigFlags& flags) {
  const ConfigLocation location = locate_config(flags.common.config_path, process_environment());
  std::error_code ec;
  const bool exists = std::filesystem::exists(location.path, ec);
  if (flags.common.json) {
    std::cout << nlohmann::json{{"path", location.path},
                                {"source", to_string(location.source)},
                                {"exists", exists}}
                     .dump()
              << "\n";
  } else {
    std::cout << location.path << "\n";
    std::cerr << "(" << to_string(location.source)
              << (exists ? "" : "; the file does not exist yet: 'agproxy config init' creates it")
              << ")\n";
  }
  return k_exit_ok;
}

int show_config(const ConfigFlags& flags) {
  const Environment env = process_environment();
  const ConfigLocation location = locate_config(flags.common.config_path, env);
  const ConfigDocument document = load_config(location.path);
  if (!document.exists) {
    throw Error("no config file at " + location.path + "; create one with 'agproxy config init'");
  }
  std::cout << masked_config(document.json).dump(2) << "\n";
  for (const auto& [field, source] : apply_overrides(document.settings, env, {}).overridden) {
    print_note(field + " is overridden by " + source + " in this environment");
  }
  return k_exit_ok;
}

int validate_config(const ConfigFlags& flags) {
  const Environment env = process_environment();
  const ConfigLocation location = locate_config(flags.common.config_path, env);
  try {
    const ConfigDocument document = load_config(location.path);
    if (!document.exists) {
      throw Error("no config file at " + location.path + "; create one with 'agproxy config init'");
    }
    const ProxySettings settings = apply_overrides(document.settings, env, {}).settings;
    for (size_t i = 0; i < settings.upstreams.size(); ++i) {
      (void)resolve_api_keys(settings.upstreams[i], i, env);
    }
    const AuthMode effective = effective_auth_mode(settings.auth_mode, settings.allow_lan_access);
    if (flags.common.json) {
      std::cout << nlohmann::json{{"valid", true},
                                  {"path", location.path},
                                  {"auth_mode", to_string(settings.auth_mode)},
                                  {"allow_lan_access", settings.allow_lan_access},
                                  {"effective_auth_mode", to_string(effective)},
                                  {"api_key_configured", !settings.api_key.empty()},
                                  {"port", settings.port},
                                  {"upstreams", settings.upstreams.size()}}
                       .dump()
                << "\n";
    } else {
      std::cout << location.path << ": valid\n"
                << "  auth: " << to_string(effective) << " ("
                << explain_effective_mode(settings.auth_mode, settings.allow_lan_access) << ")\n"
                << "  api key: " << mask_secret(settings.api_key) << "\n"
                << "  port: " << settings.port << "\n"
                << "  upstreams: " << settings.upstreams.size() << "\n";
    }
    return k_exit_ok;
  } catch (const Error& e) {
    if (!flags.common.json) {
      throw;
    }
    std::cout
        << nlohmann::json{{"valid", false}, {"path", location.path}, {"error", e.what()}}.dump()
        << "\n";
    return k_exit_failure;
  }
}

int init_config(const ConfigFlags& flags) {
  const ConfigLocation location = locate_config(flags.common.config_path, process_environment());
  std::error_code ec;
  if (std::filesystem::exists(location.path, ec) && !flags.force) {
    throw Error(location.path +
                " already exists; keep it, or pass --force to replace it (the key changes)");
  }
  ConfigDocument document = default_config(location.path);
  save_config(document);
  if (flags.common.json) {
    std::cout << nlohmann::json{{"path", location.path},
                                {"api_key", mask_secret(document.settings.api_key)}}
                     .dump()
              << "\n";
  } else {
    std::cout << location.path << "\n";
    std::cerr << "created with mode 0600; proxy key " << mask_secret(document.settings.api_key)
              << " ('agproxy key show --reveal' prints it)\n";
  }
  return k_exit_ok;
}

} // namespace

void add_config_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ConfigFlags>();
  CLI::App* config =
      app.add_subcommand("config", "Locate, show, validate or create the config file");
  config->require_subcommand(1);
  config->footer("Exit status: 0 success, 1 error (invalid or unreadable file; init over an "
                 "existing file without --force), 2 usage error.");

  CLI::App* path = config->add_subcommand("path", "Print the config file path agproxy uses");
  add_config_option(*path, flags->common);
  add_json_option(*path, flags->common, "the path, how it was chosen and whether it exists");
  path->callback([flags, &exit_code] { exit_code = print_path(*flags); });

  CLI::App* show = config->add_subcommand("show", "Print the config file with secrets masked");
  add_config_option(*show, flags->common);
  show->callback([flags, &exit_code] { exit_code = show_config(*flags); });

  CLI::App* validate = config->add_subcommand(
      "validate", "Check the config file (and AGPROXY_* variables); exit 1 with the reason if bad");
  add_config_option(*validate, flags->common);
  add_json_option(*validate, flags->common, "the result");
  validate->callback([flags, &exit_code] { exit_code = validate_config(*flags); });

  CLI::App* init = config->add_subcommand(
      "init", "Create the config file with defaults and a new random key (mode 0600)");
  add_config_option(*init, flags->common);
  add_json_option(*init, flags->common, "the path and the masked key");
  init->add_flag("--force", flags->force, "Replace an existing file");
  init->callback([flags, &exit_code] { exit_code = init_config(*flags); });
}

} // namespace agproxy::cli
