#include "core/login_cache.hh"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace tandem::core {

login_cache::login_cache() {
    if (RAND_bytes(_secret.data(), static_cast<int>(_secret.size())) != 1) {
        throw std::runtime_error("login cache: no random bytes from OpenSSL for its key");
    }
}

std::string login_cache::key(int side, std::string_view user, std::string_view password) const {
    // Length-prefixed fields: ("ab", "c") and ("a", "bc") are different inputs.
    std::string in;
    in.reserve(user.size() + password.size() + 9);
    in.push_back(static_cast<char>(side));
    for (std::string_view f : {user, password}) {
        const auto n = static_cast<uint32_t>(f.size());
        for (int shift : {24, 16, 8, 0}) in.push_back(static_cast<char>((n >> shift) & 0xff));
        in.append(f);
    }
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), _secret.data(), static_cast<int>(_secret.size()), reinterpret_cast<const unsigned char*>(in.data()),
              in.size(), out, &len)) {
        throw std::runtime_error("login cache: HMAC-SHA256 failed");
    }
    return std::string(reinterpret_cast<const char*>(out), len);
}

bool login_cache::fresh(const std::string& key, uint64_t now_ms) {
    std::lock_guard g(_lock);
    auto it = _until.find(key);
    if (it == _until.end()) return false;
    if (it->second > now_ms) return true;
    _until.erase(it);
    return false;
}

void login_cache::accepted(const std::string& key, uint64_t now_ms, uint64_t ttl_ms) {
    std::lock_guard g(_lock);
    if (_until.size() >= max_entries) {
        std::erase_if(_until, [&](const auto& e) { return e.second <= now_ms; });
        if (_until.size() >= max_entries) _until.clear();
    }
    _until[key] = now_ms + ttl_ms;
}

size_t login_cache::size() {
    std::lock_guard g(_lock);
    return _until.size();
}

}  // namespace tandem::core
