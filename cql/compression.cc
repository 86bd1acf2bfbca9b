#include "cql/compression.hh"

#include <lz4.h>
#include <snappy.h>

namespace tandem::cql {

std::string_view to_string(compression c) {
    switch (c) {
        case compression::none: return "none";
        case compression::lz4: return "lz4";
        case compression::snappy: return "snappy";
    }
    return "unknown";
}

std::optional<compression> compression_from_name(std::string_view name) {
    auto eq = [&](std::string_view want) {
        if (name.size() != want.size()) return false;
        for (size_t i = 0; i < name.size(); ++i) {
            char c = name[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            if (c != want[i]) return false;
        }
        return true;
    };
    if (eq("lz4")) return compression::lz4;
    if (eq("snappy")) return compression::snappy;
    return std::nullopt;
}

void lz4_compress_block(std::string_view in, std::string& out) {
    size_t at = out.size();
    int bound = LZ4_compressBound(static_cast<int>(in.size()));
    out.resize(at + static_cast<size_t>(bound));
    int n = LZ4_compress_default(in.data(), out.data() + at, static_cast<int>(in.size()), bound);
    out.resize(at + static_cast<size_t>(n > 0 ? n : 0));
}

result<size_t> lz4_decompress_block(std::string_view in, size_t uncompressed_size, std::string& out) {
    size_t at = out.size();
    out.resize(at + uncompressed_size);
    int n = LZ4_decompress_safe(in.data(), out.data() + at, static_cast<int>(in.size()),
                                static_cast<int>(uncompressed_size));
    if (n < 0 || static_cast<size_t>(n) != uncompressed_size) {
        out.resize(at);
        return decode_error{"LZ4 block does not decompress to the announced length"};
    }
    return uncompressed_size;
}

void compress_body(compression c, std::string_view in, std::string& out) {
    switch (c) {
        case compression::none:
            out.append(in);
            return;
        case compression::lz4: {
            char len[4];
            store_be32(len, static_cast<uint32_t>(in.size()));
            out.append(len, 4);
            lz4_compress_block(in, out);
            return;
        }
        case compression::snappy: {
            size_t at = out.size();
            out.resize(at + snappy::MaxCompressedLength(in.size()));
            size_t n = 0;
            snappy::RawCompress(in.data(), in.size(), out.data() + at, &n);
            out.resize(at + n);
            return;
        }
    }
}

result<size_t> decompress_body(compression c, std::string_view in, std::string& out, size_t max_bytes) {
    switch (c) {
        case compression::none:
            if (in.size() > max_bytes) return decode_error{"body exceeds the maximum size"};
            out.append(in);
            return in.size();
        case compression::lz4: {
            if (in.size() < 4) return decode_error{"LZ4 body shorter than its length prefix"};
            uint32_t n = load_be32(in.data());
            if (n > max_bytes) return decode_error{"LZ4 body announces more than the maximum size"};
            if (n == 0) return size_t{0};
            return lz4_decompress_block(in.substr(4), n, out);
        }
        case compression::snappy: {
            size_t n = 0;
            if (!snappy::GetUncompressedLength(in.data(), in.size(), &n)) {
                return decode_error{"Snappy body has no valid length"};
            }
            if (n > max_bytes) return decode_error{"Snappy body announces more than the maximum size"};
            size_t at = out.size();
            out.resize(at + n);
            if (!snappy::RawUncompress(in.data(), in.size(), out.data() + at)) {
                out.resize(at);
                return decode_error{"Snappy body is corrupt"};
            }
            return n;
        }
    }
    return decode_error{"unknown compression"};
}

}  // namespace tandem::cql
