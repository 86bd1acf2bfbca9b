#pragma once
// The Murmur3 token ring cut into ranges for tandem-migrate: equal splits, a shard's slice of
// them, and the checkpoint file that lists the ranges done so an interrupted run resumes.

#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace tandem::core::migrate {

struct token_range {
    int64_t start = INT64_MIN;  // exclusive, except for the first range (inclusive)
    int64_t end = INT64_MAX;    // inclusive
    bool first = false;
    size_t index = 0;
};

// The whole ring [INT64_MIN, INT64_MAX] in `n` contiguous ranges of (nearly) equal width.
std::vector<token_range> split_ring(size_t n);

// Shard `i` of `n` ("I/N"): the i-th of n contiguous, equal slices of `ranges`; every range is in
// exactly one shard.
std::vector<token_range> shard_slice(const std::vector<token_range>& ranges, size_t i, size_t n);
// Parses "I/N" (0 <= I < N); false when malformed.
bool parse_shard(const std::string& text, size_t& i, size_t& n);

// Ranges done, one line each: "<keyspace>.<table> <range index> <split>" (a run with another
// split does not reuse them). Appended and flushed as each range completes.
class checkpoint {
public:
    // Reads what an earlier run recorded (a missing file is an empty checkpoint); an unreadable
    // one is an error.
    std::string open(const std::string& path, size_t split);
    bool done(const std::string& table, size_t index) const { return _done.count({table, index}) > 0; }
    void record(const std::string& table, size_t index);
    size_t size() const { return _done.size(); }

private:
    std::set<std::pair<std::string, size_t>> _done;
    std::ofstream _out;
    size_t _split = 0;
};

}  // namespace tandem::core::migrate
