// A type descriptor followed by a value, both from the input: decode the type, then the value;
// a value that decodes must encode back to bytes that decode to an equal value.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cql/values.hh"

using namespace tandem::cql;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    reader r(in);
    cql_type t = read_type(r);
    if (!r.ok()) return 0;
    std::string_view value = in.substr(in.size() - r.remaining());
    auto v = decode_value(t, value);
    if (!v) return 0;
    std::string out;
    auto e = encode_value(t, *v, out);
    if (!e) {
        // Values that decode but may not be written back: only ones decoded from an empty
        // value of a fixed-size type (null) or timeuuids/durations that were validated anyway.
        if (!v->is_null()) std::abort();
        return 0;
    }
    auto again = decode_value(t, out);
    if (!again) std::abort();
    // NaN floats compare unequal; compare encodings instead.
    std::string out2;
    if (!encode_value(t, *again, out2) || out2 != out) std::abort();
    return 0;
}
