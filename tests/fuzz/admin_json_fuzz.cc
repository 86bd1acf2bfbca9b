// JSON that tandem's tools and admin API read from outside: a diff file's line (repair
// --from-diff), an instance's /api/v1/status (tandemctl), a PUT /api/v1/settings body. Parsing
// never crashes; what it accepts is usable; a refusal says why.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "core/admin_api.hh"
#include "core/fleet/fleet.hh"
#include "core/migrate/diff.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto d = tandem::core::migrate::parse_diff_line(in, error);
    if (!d && error.empty()) std::abort();
    tandem::core::fleet::instance_status s;
    if (tandem::core::fleet::parse_status(in, s) != s.up) std::abort();
    if (!s.up && s.error.empty()) std::abort();
    if (s.up && s.primary_cluster.empty()) std::abort();
    auto r = tandem::core::settings_from_json(tandem::core::config{}, in);
    if (auto* refused = std::get_if<tandem::core::http_response>(&r)) {
        if (refused->status != 400 || refused->body.empty()) std::abort();
    }
    return 0;
}
