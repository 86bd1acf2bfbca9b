// The merge rule (zdm-spec §4.3) and the destinations of each route, one table each.
#include "core/merge.hh"

#include <gtest/gtest.h>

#include "core/routing.hh"

namespace tandem::core {
namespace {

TEST(merge, table) {
    struct row {
        bool origin_error, target_error, is_prepare;
        cluster_role primary;
        bool want_origin_reply;
        failed_on want_failed;
    };
    using enum cluster_role;
    const row rows[] = {
        {false, false, false, origin, true, failed_on::none},   // both succeed: the primary's
        {false, false, false, target, false, failed_on::none},
        {false, false, true, target, true, failed_on::none},    // PREPARE: origin's, always
        {false, false, true, origin, true, failed_on::none},
        {true, false, false, origin, true, failed_on::origin},  // one fails: its failure
        {true, false, false, target, true, failed_on::origin},
        {false, true, false, origin, false, failed_on::target},
        {false, true, true, origin, false, failed_on::target},
        {true, true, false, target, true, failed_on::both},     // both fail: origin's
        {true, true, true, origin, true, failed_on::both},
    };
    for (const auto& r : rows) {
        auto m = merge(r.origin_error, r.target_error, r.is_prepare, r.primary);
        EXPECT_EQ(m.origin_reply, r.want_origin_reply) << r.origin_error << r.target_error << r.is_prepare << int(r.primary);
        EXPECT_EQ(m.failed, r.want_failed) << r.origin_error << r.target_error << r.is_prepare << int(r.primary);
    }
}

TEST(routing, destinations_of_each_route) {
    using enum cluster_role;
    struct row {
        query_route route;
        cluster_role primary, system;
        destinations want;
    };
    const row rows[] = {
        {query_route::both, origin, origin, destinations::both()},
        {query_route::both, target, target, destinations::both()},
        {query_route::primary, origin, target, destinations::origin()},
        {query_route::primary, target, origin, destinations::target()},
        {query_route::system, target, origin, destinations::origin()},
        {query_route::system, origin, target, destinations::target()},
        {query_route::intercepted, origin, origin, destinations::none()},
        {query_route::local_void, target, target, destinations::none()},
    };
    for (const auto& r : rows) {
        EXPECT_EQ(destinations_for(r.route, r.primary, r.system), r.want) << int(r.route) << int(r.primary) << int(r.system);
    }
}

TEST(routing, destinations_set) {
    auto d = destinations::none();
    EXPECT_TRUE(d.empty());
    d = d.with(target_side);
    EXPECT_TRUE(d.has(target_side));
    EXPECT_FALSE(d.has(origin_side));
    d = d.with(origin_side);
    EXPECT_EQ(d, destinations::both());
    EXPECT_EQ(d.without(origin_side), destinations::target());
    EXPECT_EQ(destinations::of(cluster_role::target), destinations::only(target_side));
}

}  // namespace
}  // namespace tandem::core
