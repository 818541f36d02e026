#pragma once

namespace agproxy::cli {

// Run the agproxy command line and return the process exit code.
int run(int argc, char** argv);

} // namespace agproxy::cli
