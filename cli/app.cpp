#include "cli/app.hpp"

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "version.hpp"

#include <algorithm>
#include <iostream>
#include <memory>

namespace agproxy::cli {

namespace {

// Return the names of `app`'s subcommands.
std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

// Return an error for the first word on the command line that names no command, or nothing.
// CLI11 would only say the argument "was not expected".
std::optional<std::string> check_command_words(CLI::App& root, int argc, char** argv) {
  CLI::App* app = &root;
  std::string path = "agproxy";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") {
      return std::nullopt;
    }
    if (word.starts_with("-")) {
      const std::string name = word.substr(0, word.find('='));
      const CLI::Option* option = app->get_option_no_throw(name);
      if (option && option->get_items_expected_max() > 0 && word.find('=') == std::string::npos) {
        ++i; // skip the option's value
      }
      continue;
    }
    const std::vector<std::string> names = subcommand_names(*app);
    if (names.empty()) {
      return std::nullopt; // a positional argument of a leaf command
    }
    const auto known = std::find(names.begin(), names.end(), word);
    if (known != names.end()) {
      app = app->get_subcommand(word);
      path += " " + word;
      continue;
    }
    std::string message =
        "unknown " + std::string(app == &root ? "command" : "action") + " '" + word + "'";
    if (auto guess = suggest(word, names)) {
      message += "; did you mean '" + path + " " + *guess + "'?";
    } else {
      std::string list;
      for (const std::string& name : names) {
        list += (list.empty() ? "" : ", ") + name;
      }
      message += " for " + path + " (one of: " + list + ")";
    }
    return message + " See '" + path + " --help'.";
  }
  return std::nullopt;
}

} // namespace

void add_version_command(CLI::App& app, int& exit_code) {
  auto json = std::make_shared<bool>(false);
  CLI::App* version = app.add_subcommand("version", "Print the agproxy version");
  version->add_flag("--json", *json, "Print the version as one JSON object on stdout");
  version->callback([json, &exit_code] {
    if (*json) {
      std::cout << nlohmann::json{{"version", k_version}}.dump() << "\n";
    } else {
      std::cout << "agproxy " << k_version << "\n";
    }
    exit_code = k_exit_ok;
  });
}

int run(int argc, char** argv) {
  CLI::App app{"agproxy: a local API gateway for OpenAI, Anthropic and Gemini clients, with one "
               "proxy key",
               "agproxy"};
  app.set_version_flag("--version", std::string("agproxy ") + k_version);
  app.require_subcommand(1);
  app.footer("Exit status: 0 success, 1 error, 2 usage error. Errors go to stderr as "
             "'agproxy: error: ...'.\nRun 'agproxy COMMAND --help' for a command's options.");

  int exit_code = k_exit_ok;
  // The command table: every command agproxy has, in the order --help lists them.
  const std::vector<void (*)(CLI::App&, int&)> commands = {add_serve_command,  add_doctor_command,
                                                           add_key_command,    add_config_command,
                                                           add_client_command, add_version_command};
  for (auto add : commands) {
    add(app, exit_code);
  }

  if (auto problem = check_command_words(app, argc, argv)) {
    print_error(*problem);
    return k_exit_usage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(std::string(e.what()) + " (see 'agproxy --help')");
    return k_exit_usage;
  } catch (const Error& e) {
    print_error(e.what());
    return k_exit_failure;
  } catch (const std::exception& e) {
    print_error(e.what());
    return k_exit_failure;
  }
  return exit_code;
}

} // namespace agproxy::cli
