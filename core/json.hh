#pragma once
// JSON output for the admin API, tandemctl and tandem-migrate's summaries and diff files
// (reading JSON is simdjson's job).

#include <string>
#include <string_view>

namespace tandem::core {

// `s` as a JSON string literal, quotes included.
std::string json_string(std::string_view s);

}  // namespace tandem::core
