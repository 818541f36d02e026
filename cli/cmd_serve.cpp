#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "server/serve.hpp"

#include <memory>

namespace agproxy::cli {

namespace {

struct ServeFlags {
  CommonOptions common;
  std::optional<int> port;
  std::optional<std::string> host;
  bool allow_lan = false;
  std::optional<std::string> auth_mode;
  std::optional<std::string> api_key;
  size_t workers = k_default_workers;
  std::optional<int> drain_timeout;
  std::string log_level = "info";
  std::string log_format = "text";
};

} // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* command =
      app.add_subcommand("serve", "Run the API gateway (checks the proxy key on every request)");
  command->footer(
      "Exit status: 0 stopped by SIGINT/SIGTERM, 1 configuration or start-up error, "
      "2 usage error.\nSIGTERM/SIGINT: new connections are refused at once, requests in flight "
      "finish within the drain time, a second signal cuts them.\nSIGHUP reloads the config "
      "file; key and auth mode changes in the file also apply within 1 s without it.");
  add_config_option(*command, flags->common);
  command
      ->add_option("--port", flags->port, "Listen port (overrides proxy.port; 0 picks a free one)")
      ->check(CLI::Range(0, 65535))
      ->type_name("PORT");
  command
      ->add_option("--host", flags->host,
                   "Bind address (default: 0.0.0.0 with allow_lan_access, else 127.0.0.1)")
      ->type_name("ADDR");
  command->add_flag("--allow-lan", flags->allow_lan,
                    "Listen on all interfaces (sets allow_lan_access=true; auto auth then requires "
                    "the key)");
  command->add_option("--auth-mode", flags->auth_mode, "Override proxy.auth_mode")
      ->check(CLI::IsMember({"off", "strict", "all_except_health", "auto"}))
      ->type_name("MODE");
  command
      ->add_option("--api-key", flags->api_key,
                   "Override proxy.api_key (visible to other local users in the process list; "
                   "prefer AGPROXY_API_KEY)")
      ->type_name("KEY");
  command
      ->add_option("--workers", flags->workers,
                   "Event-loop threads; each serves any number of connections and streams "
                   "(default: one per CPU core)")
      ->check(CLI::Range(1, 256))
      ->type_name("N");
  command
      ->add_option("--drain-timeout", flags->drain_timeout,
                   "Seconds requests in flight may take to finish after SIGTERM/SIGINT before "
                   "they are cut (overrides proxy.drain_seconds; default 30)")
      ->check(CLI::Range(0, 3600))
      ->type_name("SECONDS");
  command->add_option("--log-level", flags->log_level, "Lowest level logged (default info)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->type_name("LEVEL");
  command->add_option("--log-format", flags->log_format, "Log line format (default text)")
      ->check(CLI::IsMember({"text", "json"}))
      ->type_name("FORMAT");

  command->callback([flags, &exit_code] {
    ServeOptions options;
    options.config_path = flags->common.config_path;
    options.overrides.port = flags->port;
    if (flags->allow_lan) {
      options.overrides.allow_lan_access = true;
    }
    if (flags->auth_mode) {
      options.overrides.auth_mode = parse_auth_mode(*flags->auth_mode);
    }
    options.overrides.api_key = flags->api_key;
    options.host = flags->host;
    options.workers = flags->workers;
    options.drain_seconds = flags->drain_timeout;
    options.log_level = *parse_log_level(flags->log_level);
    options.log_format = *parse_log_format(flags->log_format);
    exit_code = agproxy::serve(options, process_environment());
  });
}

} // namespace agproxy::cli
