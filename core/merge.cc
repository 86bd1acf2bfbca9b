#include "core/merge.hh"

namespace tandem::core {

merge_decision merge(bool origin_error, bool target_error, bool is_prepare, cluster_role primary) {
    merge_decision m;
    if (!origin_error && !target_error) {
        m.origin_reply = is_prepare || primary == cluster_role::origin;
    } else {
        m.origin_reply = origin_error;
        m.failed = origin_error && target_error ? failed_on::both : origin_error ? failed_on::origin : failed_on::target;
    }
    return m;
}

}  // namespace tandem::core
