// The Astra metadata service's reply (core/astra.hh), as the network could deliver it: parsing
// never crashes, and a reply it accepts has everything tandem then relies on.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/astra.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto m = tandem::core::parse_astra_metadata(in);
    auto* md = std::get_if<tandem::core::astra_metadata>(&m);
    if (!md) {
        if (std::get<std::string>(m).empty()) std::abort();  // a refusal says why
        return 0;
    }
    if (md->local_dc.empty() || md->sni_host.empty() || md->sni_port == 0 || md->host_ids.empty()) std::abort();
    for (const auto& id : md->host_ids) {
        if (id.empty()) std::abort();
    }
    return 0;
}
