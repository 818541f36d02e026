#pragma once

#include "diag/doctor.hpp"

#include <string>

namespace agproxy::diag {

// Return the human report: a line per check (✓ ! ✗ -), detail and fix under the ones that need
// attention (all of them, with traces, when `verbose`), and a last line naming the likely cause.
std::string render_text(const DoctorReport& report, bool color, bool verbose);

// Return the report as one JSON object (DESIGN §4), newline-terminated.
std::string render_json(const DoctorReport& report);

} // namespace agproxy::diag
