#pragma once
// Which of two replies the client gets (zdm-spec §4.3), as a pure function with a unit test for
// each case. The reply path (replies.cc) applies it.

#include <cstdint>

#include "core/config.hh"

namespace tandem::core {

// §4.3, for a request sent to both clusters. Both succeed: the primary's reply (PREPARE:
// origin's). One fails: its failure. Both fail: origin's.
enum class failed_on : uint8_t { none, origin, target, both };
struct merge_decision {
    bool origin_reply = true;  // which reply the client gets
    failed_on failed = failed_on::none;
};
merge_decision merge(bool origin_error, bool target_error, bool is_prepare, cluster_role primary);

}  // namespace tandem::core
