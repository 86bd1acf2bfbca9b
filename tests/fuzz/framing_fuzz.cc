// The v5 frame decoder over arbitrary bytes; the first byte picks compressed or not.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cql/framing.hh"

using namespace tandem::cql;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    bool compressed = data[0] & 1;
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    header_limits limits;
    limits.max_body_bytes = 1 << 20;
    frame_decoder d(compressed, limits);
    while (!in.empty()) {
        auto s = d.decode(in);
        if (s.status != parse_status::ok) break;
        if (s.consumed == 0 || s.consumed > in.size()) std::abort();
        for (auto& e : d.envelopes()) {
            if (e.body.size() != e.header.length) std::abort();
        }
        in.remove_prefix(s.consumed);
    }
    // Whatever decoded must survive a trip through the encoder.
    if (size > 4) {
        std::string wire;
        frame_encoder enc(compressed);
        envelope_header h;
        h.version = protocol_version::v5;
        h.op = opcode::query;
        auto env = make_envelope(h, std::string_view(reinterpret_cast<const char*>(data), size));
        enc.add_envelope(env, wire);
        enc.flush(wire);
        frame_decoder back(compressed);
        std::string_view rest = wire;
        size_t envelopes = 0;
        while (!rest.empty()) {
            auto s = back.decode(rest);
            if (s.status != parse_status::ok) std::abort();
            for (auto& e : back.envelopes()) {
                if (e.body != std::string_view(reinterpret_cast<const char*>(data), size)) std::abort();
                ++envelopes;
            }
            rest.remove_prefix(s.consumed);
        }
        if (envelopes != 1) std::abort();
    }
    return 0;
}
