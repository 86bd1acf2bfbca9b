// The frame splitter over an arbitrary byte stream: it must either hand out whole envelopes that
// lie inside the input, ask for more, or report malformed; never read out of bounds.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cql/envelope.hh"

using namespace tandem::cql;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    header_limits limits;
    limits.max_body_bytes = 1 << 20;
    while (!in.empty()) {
        auto s = split_envelope(in, limits);
        if (s.status != parse_status::ok) break;
        if (s.consumed == 0 || s.consumed > in.size()) std::abort();
        if (s.envelope.body.size() != s.envelope.header.length) std::abort();
        // Serializing the header again gives the same bytes.
        char buf[9];
        size_t n = write_header(s.envelope.header, buf);
        if (std::string_view(buf, n) != in.substr(0, n)) std::abort();
        in.remove_prefix(s.consumed);
    }
    return 0;
}
