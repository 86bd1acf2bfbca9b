#include "core/astra.hh"

#include <curl/curl.h>
#include <dlfcn.h>
#include <simdjson.h>
#include <zip.h>

#include <charconv>
#include <memory>
#include <type_traits>

namespace tandem::core {

namespace {

// Reads one file of the zip into `out`; returns an error text, empty on success.
std::string read_entry(zip_t* z, const char* name, std::string& out) {
    zip_stat_t st;
    if (zip_stat(z, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) return std::string("it has no ") + name;
    if (st.size > (16u << 20)) return std::string(name) + " is larger than 16 MiB";
    std::unique_ptr<zip_file_t, decltype(&zip_fclose)> f(zip_fopen(z, name, 0), &zip_fclose);
    if (!f) return std::string("cannot open ") + name + ": " + zip_strerror(z);
    out.assign(st.size, '\0');
    zip_int64_t n = zip_fread(f.get(), out.data(), st.size);
    if (n < 0 || static_cast<zip_uint64_t>(n) != st.size) return std::string("cannot read ") + name;
    return {};
}

// "host:port" (IPv6 in brackets) to its parts.
bool split_host_port(std::string_view s, std::string& host, uint16_t& port) {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    host = std::string(s.substr(0, colon));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto p = s.substr(colon + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || end != p.data() + p.size() || v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
    return true;
}

// libcurl is loaded when a bundle is used, not linked: with its dependencies (GnuTLS, Kerberos,
// LDAP, libssh2, ...) it would add about 3 MiB to every tandem process's memory.
struct curl_api {
    decltype(&curl_global_init) global_init = nullptr;
    decltype(&curl_easy_init) easy_init = nullptr;
    decltype(&curl_easy_setopt) easy_setopt = nullptr;
    decltype(&curl_easy_perform) easy_perform = nullptr;
    decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
    decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
    decltype(&curl_easy_strerror) easy_strerror = nullptr;
    std::string error;

    curl_api() {
        void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char* e = dlerror();
            error = std::string("cannot load libcurl (Debian package libcurl4): ") + (e ? e : "unknown error");
            return;
        }
        auto load = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
            if (!fn && error.empty()) error = std::string("libcurl lacks ") + name;
        };
        load(global_init, "curl_global_init");
        load(easy_init, "curl_easy_init");
        load(easy_setopt, "curl_easy_setopt");
        load(easy_perform, "curl_easy_perform");
        load(easy_getinfo, "curl_easy_getinfo");
        load(easy_cleanup, "curl_easy_cleanup");
        load(easy_strerror, "curl_easy_strerror");
        if (error.empty() && global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) error = "libcurl failed to initialize";
    }
};

size_t collect(char* data, size_t size, size_t n, void* out) {
    auto* s = static_cast<std::string*>(out);
    if (s->size() + size * n > (4u << 20)) return 0;  // a metadata reply is a few hundred bytes
    s->append(data, size * n);
    return size * n;
}

}  // namespace

std::variant<secure_bundle, std::string> read_secure_bundle(const std::string& path) {
    auto fail = [&](const std::string& why) { return "secure connect bundle " + path + ": " + why; };
    int err = 0;
    std::unique_ptr<zip_t, decltype(&zip_discard)> z(zip_open(path.c_str(), ZIP_RDONLY, &err), &zip_discard);
    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, err);
        std::string why = zip_error_strerror(&e);
        zip_error_fini(&e);
        return fail(why);
    }
    secure_bundle b;
    b.path = path;
    struct {
        const char* name;
        std::string* into;
    } files[] = {{"ca.crt", &b.ca_pem}, {"cert", &b.cert_pem}, {"key", &b.key_pem}};
    for (auto& f : files) {
        if (auto e = read_entry(z.get(), f.name, *f.into); !e.empty()) return fail(e);
    }
    std::string cfg;
    if (auto e = read_entry(z.get(), "config.json", cfg); !e.empty()) return fail(e);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto e = parser.parse(cfg).get(doc)) return fail(std::string("config.json is not JSON: ") + simdjson::error_message(e));
    std::string_view host;
    if (doc["host"].get(host) || host.empty()) return fail("config.json has no \"host\" string");
    b.host = std::string(host);
    int64_t port = 0;
    if (doc["port"].get(port) || port <= 0 || port > 65535) return fail("config.json has no valid \"port\" number");
    b.port = static_cast<uint16_t>(port);
    return b;
}

std::variant<astra_metadata, std::string> parse_astra_metadata(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto e = parser.parse(json.data(), json.size()).get(doc)) {
        return std::string("the metadata reply is not JSON: ") + simdjson::error_message(e);
    }
    simdjson::dom::object ci;
    if (doc["contact_info"].get(ci)) return std::string("the metadata reply has no contact_info object");
    astra_metadata m;
    std::string_view s;
    if (ci["local_dc"].get(s) || s.empty()) return std::string("the metadata reply has no contact_info.local_dc");
    m.local_dc = std::string(s);
    if (ci["sni_proxy_address"].get(s) || !split_host_port(s, m.sni_host, m.sni_port)) {
        return std::string("the metadata reply has no valid contact_info.sni_proxy_address (host:port)");
    }
    simdjson::dom::array points;
    if (ci["contact_points"].get(points)) return std::string("the metadata reply has no contact_info.contact_points list");
    for (auto p : points) {
        std::string_view id;
        if (p.get(id) || id.empty()) return std::string("contact_info.contact_points holds a value that is not a host id");
        m.host_ids.emplace_back(id);
    }
    if (m.host_ids.empty()) return std::string("contact_info.contact_points is empty");
    return m;
}

std::variant<astra_metadata, std::string> fetch_astra_metadata(const secure_bundle& b, int64_t timeout_ms) {
    static const curl_api api;  // loaded once, on first use
    std::string url = "https://" + (b.host.find(':') != std::string::npos ? "[" + b.host + "]" : b.host) + ":" +
                      std::to_string(b.port) + "/metadata";
    auto fail = [&](const std::string& why) { return "Astra metadata " + url + " (bundle " + b.path + "): " + why; };
    if (!api.error.empty()) return fail(api.error);
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(api.easy_init(), api.easy_cleanup);
    if (!c) return fail("libcurl failed to initialize");
    auto blob = [](const std::string& s) {
        curl_blob v;
        v.data = const_cast<char*>(s.data());
        v.len = s.size();
        v.flags = CURL_BLOB_COPY;
        return v;
    };
    curl_blob ca = blob(b.ca_pem), cert = blob(b.cert_pem), key = blob(b.key_pem);
    std::string body;
    char errbuf[CURL_ERROR_SIZE] = "";
    api.easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    api.easy_setopt(c.get(), CURLOPT_CAINFO_BLOB, &ca);
    api.easy_setopt(c.get(), CURLOPT_SSLCERT_BLOB, &cert);
    api.easy_setopt(c.get(), CURLOPT_SSLCERTTYPE, "PEM");
    api.easy_setopt(c.get(), CURLOPT_SSLKEY_BLOB, &key);
    api.easy_setopt(c.get(), CURLOPT_SSLKEYTYPE, "PEM");
    api.easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
    api.easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    api.easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "https");
    api.easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &collect);
    api.easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
    api.easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = api.easy_perform(c.get());
    if (rc != CURLE_OK) return fail(errbuf[0] ? errbuf : api.easy_strerror(rc));
    long status = 0;
    api.easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) return fail("HTTP status " + std::to_string(status));
    auto m = parse_astra_metadata(body);
    if (auto* e = std::get_if<std::string>(&m)) return fail(*e);
    return m;
}

}  // namespace tandem::core
