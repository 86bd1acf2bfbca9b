#include "core/migrate/ranges.hh"

#include <charconv>
#include <sstream>

namespace tandem::core::migrate {

std::vector<token_range> split_ring(size_t n) {
    if (n == 0) n = 1;
    std::vector<token_range> out;
    // Offsets from INT64_MIN in 128-bit arithmetic: the ring has exactly 2^64 tokens, and range i
    // ends at offset floor(2^64 (i + 1) / n) - 1.
    __extension__ typedef unsigned __int128 u128;
    int64_t start = INT64_MIN;
    for (size_t i = 0; i < n; ++i) {
        token_range r;
        r.index = i;
        r.first = i == 0;
        r.start = start;
        const auto last = static_cast<uint64_t>((u128{1} << 64) * (i + 1) / n - 1);  // offset of the range's last token
        r.end = i + 1 == n ? INT64_MAX : static_cast<int64_t>(last ^ (uint64_t{1} << 63));
        out.push_back(r);
        start = r.end;
    }
    return out;
}

std::vector<token_range> shard_slice(const std::vector<token_range>& ranges, size_t i, size_t n) {
    if (n == 0) return ranges;
    size_t begin = ranges.size() * i / n, end = ranges.size() * (i + 1) / n;
    return {ranges.begin() + static_cast<std::ptrdiff_t>(begin), ranges.begin() + static_cast<std::ptrdiff_t>(end)};
}

bool parse_shard(const std::string& text, size_t& i, size_t& n) {
    auto slash = text.find('/');
    if (slash == std::string::npos) return false;
    const char* b = text.data();
    auto r1 = std::from_chars(b, b + slash, i);
    auto r2 = std::from_chars(b + slash + 1, b + text.size(), n);
    return r1.ec == std::errc() && r1.ptr == b + slash && r2.ec == std::errc() && r2.ptr == b + text.size() && n > 0 && i < n;
}

std::string checkpoint::open(const std::string& path, size_t split) {
    _split = split;
    {
        std::ifstream in(path);
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string table;
            size_t index = 0, s = 0;
            if (!(fields >> table >> index >> s)) continue;  // a torn last line: that range is redone
            if (s == split) _done.insert({table, index});
        }
    }
    _out.open(path, std::ios::app);
    if (!_out) return "cannot write the checkpoint file " + path;
    return {};
}

void checkpoint::record(const std::string& table, size_t index) {
    _done.insert({table, index});
    if (_out.is_open()) {
        _out << table << ' ' << index << ' ' << _split << '\n';
        _out.flush();
    }
}

}  // namespace tandem::core::migrate
