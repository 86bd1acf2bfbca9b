#pragma once
// cluster_connections SHARED (README, "Cluster connections"): logins a cluster accepted in the last
// `cluster_connections_login_cache_ms`, so that a storm of client connections with the same
// credentials (a deploy, serverless functions) costs the checking cluster one login per interval
// instead of one connection and one password hash each. What is kept is an HMAC-SHA256 of
// (cluster, username, password) under a key drawn at start, never the password; refusals are not
// kept (every wrong password reaches the cluster). A password changed or a role dropped on the
// cluster is still accepted by tandem until its entry expires, as Cassandra's own credentials
// cache (credentials_validity, 2 s by default) does. Shared by the workers (a mutex: logins are
// rare next to requests).

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tandem::core {

class login_cache {
public:
    login_cache();
    // The entry's key for these credentials on cluster `side`.
    std::string key(int side, std::string_view user, std::string_view password) const;
    // Accepted by the cluster less than the cache's time ago.
    bool fresh(const std::string& key, uint64_t now_ms);
    void accepted(const std::string& key, uint64_t now_ms, uint64_t ttl_ms);
    size_t size();

    static constexpr size_t max_entries = 10000;  // past it, expired entries go; if none, all

private:
    std::array<unsigned char, 32> _secret{};
    std::mutex _lock;
    std::unordered_map<std::string, uint64_t> _until;  // key -> expiry (ms)
};

}  // namespace tandem::core
