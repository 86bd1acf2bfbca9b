// Every message decoder over arbitrary bodies. The first byte picks the decoder and the protocol
// version. A body that decodes must encode back to bytes that decode to the same encoding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cql/envelope.hh"
#include "cql/error_body.hh"
#include "cql/event.hh"
#include "cql/query.hh"
#include "cql/result.hh"
#include "cql/startup.hh"

using namespace tandem::cql;

namespace {

// Decode, encode, decode again, encode again: both encodings must agree.
template <typename Decode, typename Encode>
void check(std::string_view body, Decode decode, Encode encode) {
    auto m = decode(body);
    if (!m) return;
    std::string once;
    encode(*m, once);
    auto again = decode(once);
    if (!again) std::abort();
    std::string twice;
    encode(*again, twice);
    if (once != twice) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    uint8_t which = data[0] % 11;
    uint8_t version = static_cast<uint8_t>(3 + (data[0] / 11) % 3);
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    auto plain = [](const auto& m, std::string& out) { m.encode(out); };
    auto versioned = [version](const auto& m, std::string& out) { m.encode(out, version); };
    switch (which) {
        case 0: check(body, [](std::string_view b) { return startup_message::decode(b); }, plain); break;
        case 1: check(body, [](std::string_view b) { return supported_message::decode(b); }, plain); break;
        case 2: check(body, [](std::string_view b) { return auth_token_message::decode(b); }, plain); break;
        case 3: check(body, [](std::string_view b) { return register_message::decode(b); }, plain); break;
        case 4: check(body, [version](std::string_view b) { return query_message::decode(b, version); }, versioned); break;
        case 5: check(body, [version](std::string_view b) { return prepare_message::decode(b, version); }, versioned); break;
        case 6: check(body, [version](std::string_view b) { return execute_message::decode(b, version); }, versioned); break;
        case 7: check(body, [version](std::string_view b) { return batch_message::decode(b, version); }, versioned); break;
        case 8: {
            check(body, [version](std::string_view b) { return result_message::decode(b, version); }, versioned);
            auto r = result_message::decode(body, version);
            if (r && r->kind == result_kind::rows && !r->rows()) std::abort();
            break;
        }
        case 9: check(body, [version](std::string_view b) { return error_message::decode(b, version); }, versioned); break;
        case 10: check(body, [](std::string_view b) { return event_message::decode(b); }, plain); break;
    }
    return 0;
}
