#pragma once
// Body compression of v3/v4 envelopes (v4.spec §5) and of v5 frames (v5.spec §2.2).
//  - v4 LZ4: a 4-byte big-endian uncompressed length, then an LZ4 block.
//  - v4 Snappy: a raw Snappy buffer (it carries its own length).
//  - v5 LZ4 frame payloads: a bare LZ4 block; the uncompressed length travels in the frame
//    header instead.
// Decompression is bounded by `max_bytes` so a lying length cannot make us allocate gigabytes.

#include <cstdint>
#include <string>
#include <string_view>

#include "cql/primitives.hh"

namespace tandem::cql {

enum class compression : uint8_t { none, lz4, snappy };
std::string_view to_string(compression c);
// The STARTUP option value ("lz4", "snappy"), case-insensitive; nullopt for unknown.
std::optional<compression> compression_from_name(std::string_view name);

void compress_body(compression c, std::string_view in, std::string& out);
// Appends the decompressed body to `out`.
[[nodiscard]] result<size_t> decompress_body(compression c, std::string_view in, std::string& out,
                                             size_t max_bytes);

// Bare LZ4 blocks for v5 frames.
void lz4_compress_block(std::string_view in, std::string& out);
[[nodiscard]] result<size_t> lz4_decompress_block(std::string_view in, size_t uncompressed_size,
                                                  std::string& out);

}  // namespace tandem::cql
