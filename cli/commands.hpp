#pragma once

#include <CLI/CLI.hpp>

namespace agproxy::cli {

// Register `agproxy serve` on `app`; its callback stores the exit code in `exit_code`.
void add_serve_command(CLI::App& app, int& exit_code);

// Register `agproxy key show|regenerate|set` on `app`.
void add_key_command(CLI::App& app, int& exit_code);

// Register `agproxy config path|show|validate|init` on `app`.
void add_config_command(CLI::App& app, int& exit_code);

// Register `agproxy doctor 401` on `app`.
void add_doctor_command(CLI::App& app, int& exit_code);

// Register `agproxy client setup|show|undo` on `app`.
void add_client_command(CLI::App& app, int& exit_code);

// Register `agproxy version` on `app`.
void add_version_command(CLI::App& app, int& exit_code);

} // namespace agproxy::cli
