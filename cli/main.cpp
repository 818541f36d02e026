#include "cli/app.hpp"

int main(int argc, char** argv) {
  return agproxy::cli::run(argc, argv);
}
