#include "core/login_cache.hh"

#include <gtest/gtest.h>

namespace tandem::core {

TEST(login_cache, a_key_names_cluster_user_and_password_and_not_the_password) {
    login_cache c;
    const std::string k = c.key(0, "app", "secret");
    EXPECT_EQ(k.size(), 32u);  // HMAC-SHA256
    EXPECT_EQ(k, c.key(0, "app", "secret"));
    EXPECT_NE(k, c.key(1, "app", "secret"));   // the other cluster
    EXPECT_NE(k, c.key(0, "app", "secreT"));
    EXPECT_NE(k, c.key(0, "apps", "ecret"));   // the fields' boundary is part of the key
    EXPECT_EQ(k.find("secret"), std::string::npos);
    // Another process (another key drawn at start) makes other entries.
    login_cache other;
    EXPECT_NE(k, other.key(0, "app", "secret"));
}

TEST(login_cache, an_accepted_login_is_fresh_until_it_expires) {
    login_cache c;
    const std::string k = c.key(0, "app", "secret");
    EXPECT_FALSE(c.fresh(k, 1000));
    c.accepted(k, 1000, 2000);
    EXPECT_TRUE(c.fresh(k, 1000));
    EXPECT_TRUE(c.fresh(k, 2999));
    EXPECT_FALSE(c.fresh(k, 3000));
    EXPECT_FALSE(c.fresh(k, 1000));  // an expired entry is gone, not revived
    EXPECT_EQ(c.size(), 0u);
}

TEST(login_cache, it_stays_bounded) {
    login_cache c;
    for (size_t i = 0; i < login_cache::max_entries; ++i) c.accepted(c.key(0, "u" + std::to_string(i), "p"), 0, i < 10 ? 5 : 100000);
    EXPECT_EQ(c.size(), login_cache::max_entries);
    c.accepted(c.key(0, "new", "p"), 10, 1000);  // the 10 expired ones go first
    EXPECT_EQ(c.size(), login_cache::max_entries - 10 + 1);
    EXPECT_TRUE(c.fresh(c.key(0, "u500", "p"), 10));
    for (int i = 0; i < 9; ++i) c.accepted(c.key(0, "more" + std::to_string(i), "p"), 10, 1000);
    EXPECT_EQ(c.size(), login_cache::max_entries);
    c.accepted(c.key(0, "one more", "p"), 10, 1000);  // none expired: all go
    EXPECT_EQ(c.size(), 1u);
    EXPECT_TRUE(c.fresh(c.key(0, "one more", "p"), 10));
}

}  // namespace tandem::core
