// The classifier over arbitrary text: every offset it reports lies inside the text, and a
// statement it cannot lex is never a read.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cql/classifier.hh"

using namespace tandem::cql;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto info = classify(text);
    if (info.kind == statement_kind::unlexable && (info.is_read() || info.problem.empty())) std::abort();
    for (size_t i = 0; i < info.call_count; ++i) {
        auto& c = info.calls[i];
        if (c.begin > size || c.end > size || (c.end != 0 && c.end < c.begin)) std::abort();
    }
    for (size_t i = 0; i < std::min<size_t>(info.marker_count, max_reported_markers); ++i) {
        if (info.markers[i].end > size || info.markers[i].end <= info.markers[i].begin) std::abort();
    }
    for (auto id : {info.keyspace.text, info.table.text}) {
        if (!id.empty() && (id.data() < text.data() || id.data() + id.size() > text.data() + size)) std::abort();
    }
    if (info.kind == statement_kind::select) {
        auto sel = parse_selectors(text, info);
        if (sel) {
            for (auto& s : *sel) {
                if (s.text.data() < text.data() || s.text.data() + s.text.size() > text.data() + size) std::abort();
            }
        }
    }
    return 0;
}
