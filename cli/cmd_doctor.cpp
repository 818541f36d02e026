#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "diag/doctor.hpp"
#include "diag/report.hpp"

#include <iostream>
#include <memory>
#include <unistd.h>

namespace agproxy::cli {

namespace {

struct DoctorFlags {
  CommonOptions common;
  diag::DoctorOptions options;
  bool verbose = false;
  bool no_color = false;
};

// A topic's walk.
using Walk = diag::DoctorReport (*)(const diag::DoctorOptions& options, const Environment& env,
                                    diag::HttpProber& prober);

int run_topic(const DoctorFlags& flags, Walk walk) {
  diag::DoctorOptions options = flags.options;
  options.config_path = flags.common.config_path;
  diag::CurlProber prober;
  const Environment env = process_environment();
  diag::DoctorReport report;
  try {
    report = walk(options, env, prober);
  } catch (const diag::UsageError& e) {
    print_error(e.what());
    return k_exit_usage;
  }
  if (flags.common.json) {
    std::cout << diag::render_json(report);
  } else {
    const auto no_color_env = env("NO_COLOR");
    const bool color = !flags.no_color && !(no_color_env && !no_color_env->empty()) &&
                       ::isatty(STDOUT_FILENO) == 1;
    std::cout << diag::render_text(report, color, flags.verbose);
  }
  return report.exit_code();
}

// Add what every topic takes first: the config, the proxy and the key.
void add_target_options(CLI::App& topic, DoctorFlags& flags) {
  topic.footer(
      "Exit status: 0 no failing check, 1 a failing check (the verdict), 2 usage error, 3 proxy "
      "unreachable.\nThe doctor only reads: it never changes the config or the server. Keys are "
      "shown as their last 4 characters and a SHA-256 prefix.");
  add_config_option(topic, flags.common);
  topic
      .add_option("--url", flags.options.url,
                  "The proxy to check (default http://127.0.0.1:PORT, PORT from the config)")
      ->type_name("URL");
  topic
      .add_option("--key", flags.options.key,
                  "A key to test instead of the config's (prefer the config: argv is visible)")
      ->type_name("KEY");
}

// Add what every topic takes last: the probes' timeout and the report's form.
void add_output_options(CLI::App& topic, DoctorFlags& flags) {
  topic
      .add_option("--timeout", flags.options.timeout_seconds,
                  "Seconds to wait for each probe (default 2)")
      ->check(CLI::PositiveNumber)
      ->type_name("S");
  add_json_option(topic, flags.common, "the report");
  topic.add_flag("-v,--verbose", flags.verbose,
                 "Show every check's detail, the requests and responses (keys masked) and a curl "
                 "command that reproduces each probe");
  topic.add_flag("--no-color", flags.no_color, "No colors (also when NO_COLOR is set)");
}

void add_401(CLI::App& doctor, int& exit_code) {
  auto flags = std::make_shared<DoctorFlags>();
  CLI::App* topic = doctor.add_subcommand(
      "401", "Walk the 401 checks against the running proxy and its config, and name the cause");
  add_target_options(*topic, *flags);
  topic
      ->add_option("-H,--header", flags->options.headers,
                   "A header the failing client sends, 'Name: value' (repeatable)")
      ->type_name("HEADER");
  topic
      ->add_option("--curl", flags->options.curl,
                   "The failing client's curl command, pasted as one argument: its URL and "
                   "headers are checked")
      ->type_name("CMD");
  topic
      ->add_option("--since", flags->options.since,
                   "Without -H/--curl: judge the clients the proxy refused in the last DURATION "
                   "(30s, 10m, 2h, 1d) of its record")
      ->type_name("DURATION");
  topic
      ->add_option("--probe-model", flags->options.probe_model,
                   "Send one minimal request for MODEL through the proxy to test the provider "
                   "key (may cost a provider call)")
      ->type_name("MODEL");
  topic
      ->add_option("--client", flags->options.client,
                   "Judge only this coding agent's settings in env.agents (claude-code, codex, "
                   "gemini-cli)")
      ->check(CLI::IsMember({"claude-code", "codex", "gemini-cli"}))
      ->type_name("AGENT");
  add_output_options(*topic, *flags);
  topic->callback([flags, &exit_code] { exit_code = run_topic(*flags, diag::run_doctor_401); });
}

void add_429(CLI::App& doctor, int& exit_code) {
  auto flags = std::make_shared<DoctorFlags>();
  CLI::App* topic = doctor.add_subcommand(
      "429", "Walk the 429 checks (the guard, the route, the provider's limits, the keys, the "
             "clients' retries) against the running proxy and what it saw, and name the cause");
  add_target_options(*topic, *flags);
  topic
      ->add_option("--model", flags->options.model,
                   "The model the failing client asks for (default: the model of the last "
                   "rate-limited request the server saw)")
      ->type_name("MODEL");
  topic
      ->add_option("--probe-model", flags->options.probe_model,
                   "Send one minimal request for MODEL through the proxy and report its status, "
                   "upstream, key and rate-limit headers (may cost a provider call)")
      ->type_name("MODEL");
  topic
      ->add_option("--since", flags->options.since,
                   "Read only the server's events of the last DURATION (30s, 10m, 2h, 1d; "
                   "default: all it keeps, the last 512)")
      ->type_name("DURATION");
  add_output_options(*topic, *flags);
  topic->callback([flags, &exit_code] { exit_code = run_topic(*flags, diag::run_doctor_429); });
}

} // namespace

void add_doctor_command(CLI::App& app, int& exit_code) {
  CLI::App* doctor = app.add_subcommand("doctor", "Find the cause of an error (topics: 401, 429)");
  doctor->require_subcommand(1);
  add_401(*doctor, exit_code);
  add_429(*doctor, exit_code);
}

} // namespace agproxy::cli
