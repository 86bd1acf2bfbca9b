// The reader of a connection's byte stream (core/wire.hh envelope_reader) against the frame
// splitter over the whole input: however the stream is cut into received buffers (the first
// byte picks the cuts), the reader hands out the same envelopes, in order, and reports malformed
// exactly when the splitter does.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/wire.hh"
#include "cql/envelope.hh"
#include "net/buffer_ring.hh"

using namespace tandem;

namespace {

struct got {
    cql::envelope_header header;
    std::string body;
    bool operator==(const got&) const = default;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t cuts = data[0];
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    cql::header_limits limits;
    limits.max_body_bytes = 1 << 20;

    // What the splitter finds in the whole input.
    std::vector<got> want;
    bool want_malformed = false;
    for (std::string_view rest = in; !rest.empty();) {
        auto s = cql::split_envelope(rest, limits);
        if (s.status == cql::parse_status::malformed) want_malformed = true;
        if (s.status != cql::parse_status::ok) break;
        want.push_back({s.envelope.header, std::string(s.envelope.body)});
        rest.remove_prefix(s.consumed);
    }

    // The reader, fed in pieces of 1 to 16 or 1 to 4,096 bytes.
    constexpr uint32_t buffer_size = 4096;
    net::buffer_ring ring(buffer_size, 8);
    core::envelope_reader reader(limits);
    std::vector<got> seen;
    bool malformed = false;
    uint32_t state = cuts * 2654435761u + 1;
    const uint32_t longest = cuts & 1 ? 16 : buffer_size;
    for (size_t at = 0; at < in.size() && !malformed;) {
        state = state * 1664525u + 1013904223u;
        const size_t n = std::min<size_t>(in.size() - at, 1 + (state >> 8) % longest);
        const int bid = ring.take();
        if (bid < 0) std::abort();  // every buffer went back to the ring
        std::memcpy(const_cast<char*>(ring.data(static_cast<uint16_t>(bid))), in.data() + at, n);
        at += n;
        auto out = reader.feed(net::rx_buffer(ring, static_cast<uint16_t>(bid), static_cast<uint32_t>(n)), [&](core::inbound_envelope&& e) {
            if (e.body.size() != e.header.length) std::abort();
            seen.push_back({e.header, std::string(e.body)});
            return true;
        });
        malformed = !out.ok;
    }
    if (seen != want || malformed != want_malformed) std::abort();
    // A copy emptied keeps no more than the room the reader is allowed to keep.
    if (reader.pending_bytes() == 0 && reader.pending_capacity() > core::envelope_reader::kept_capacity) std::abort();
    return 0;
}
