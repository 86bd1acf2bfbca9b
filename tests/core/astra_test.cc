// Astra secure connect bundles (R1.25): the zip, the metadata reply, the TLS material.
#include "core/astra.hh"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zip.h>

#include <cstdio>
#include <map>

#include "net/tls.hh"

namespace tandem::core {
namespace {

// Writes a zip holding `files` to a temporary path; returns the path.
std::string make_zip(const std::map<std::string, std::string>& files) {
    char path[] = "/tmp/tandem-bundle-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    int err = 0;
    zip_t* z = zip_open(path, ZIP_TRUNCATE, &err);
    EXPECT_NE(z, nullptr);
    for (auto& [name, text] : files) {
        zip_source_t* src = zip_source_buffer(z, text.data(), text.size(), 0);
        EXPECT_GE(zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE), 0);
    }
    EXPECT_EQ(zip_close(z), 0);
    return path;
}

const std::map<std::string, std::string> good = {
    {"config.json", R"({"host": "db-1234.example.net", "port": 29080, "keyspace": "app", "localDC": "dc1"})"},
    {"ca.crt", "CA PEM"},
    {"cert", "CERT PEM"},
    {"key", "KEY PEM"},
};

TEST(secure_bundle, reads_host_port_and_tls_material) {
    auto path = make_zip(good);
    auto b = read_secure_bundle(path);
    std::remove(path.c_str());
    ASSERT_TRUE(std::holds_alternative<secure_bundle>(b)) << std::get<std::string>(b);
    auto& v = std::get<secure_bundle>(b);
    EXPECT_EQ(v.host, "db-1234.example.net");
    EXPECT_EQ(v.port, 29080);
    EXPECT_EQ(v.ca_pem, "CA PEM");
    EXPECT_EQ(v.cert_pem, "CERT PEM");
    EXPECT_EQ(v.key_pem, "KEY PEM");
}

TEST(secure_bundle, names_what_is_missing_or_malformed) {
    auto expect_error = [](std::map<std::string, std::string> files, const std::string& needle) {
        auto path = make_zip(files);
        auto b = read_secure_bundle(path);
        std::remove(path.c_str());
        ASSERT_TRUE(std::holds_alternative<std::string>(b)) << needle;
        EXPECT_NE(std::get<std::string>(b).find(needle), std::string::npos) << std::get<std::string>(b);
        EXPECT_NE(std::get<std::string>(b).find(path), std::string::npos);  // names the bundle
    };
    auto without = [](const char* name) {
        auto f = good;
        f.erase(name);
        return f;
    };
    expect_error(without("key"), "no key");
    expect_error(without("ca.crt"), "no ca.crt");
    expect_error(without("config.json"), "no config.json");
    auto f = good;
    f["config.json"] = "{not json";
    expect_error(f, "not JSON");
    f["config.json"] = R"({"port": 29080})";
    expect_error(f, "\"host\"");
    f["config.json"] = R"({"host": "h", "port": 70000})";
    expect_error(f, "\"port\"");

    auto b = read_secure_bundle("/nonexistent/bundle.zip");
    ASSERT_TRUE(std::holds_alternative<std::string>(b));
    EXPECT_NE(std::get<std::string>(b).find("/nonexistent/bundle.zip"), std::string::npos);
}

TEST(astra_metadata, parses_the_contact_info) {
    auto m = parse_astra_metadata(R"({"version":1,"region":"us-east1","contact_info":{"type":"sni_proxy","local_dc":"dc-east",
        "contact_points":["2d5c2a2f-1b8f-4f55-a5a0-1f6c4d4f9c01","9b2e3a11-7a44-4b0e-8a5d-2f1d3c4b5a02"],
        "sni_proxy_address":"db-1234.example.net:29042"}})");
    ASSERT_TRUE(std::holds_alternative<astra_metadata>(m)) << std::get<std::string>(m);
    auto& v = std::get<astra_metadata>(m);
    EXPECT_EQ(v.local_dc, "dc-east");
    EXPECT_EQ(v.sni_host, "db-1234.example.net");
    EXPECT_EQ(v.sni_port, 29042);
    ASSERT_EQ(v.host_ids.size(), 2u);
    EXPECT_EQ(v.host_ids[1], "9b2e3a11-7a44-4b0e-8a5d-2f1d3c4b5a02");

    auto v6 = parse_astra_metadata(R"({"contact_info":{"local_dc":"d","contact_points":["a"],"sni_proxy_address":"[::1]:9042"}})");
    ASSERT_TRUE(std::holds_alternative<astra_metadata>(v6));
    EXPECT_EQ(std::get<astra_metadata>(v6).sni_host, "::1");
}

TEST(astra_metadata, rejects_incomplete_replies) {
    for (const char* json : {
             "",
             "[]",
             R"({"contact_info":{"contact_points":["a"],"sni_proxy_address":"h:1"}})",
             R"({"contact_info":{"local_dc":"d","contact_points":["a"],"sni_proxy_address":"h"}})",
             R"({"contact_info":{"local_dc":"d","contact_points":["a"],"sni_proxy_address":"h:0"}})",
             R"({"contact_info":{"local_dc":"d","contact_points":[],"sni_proxy_address":"h:1"}})",
             R"({"contact_info":{"local_dc":"d","contact_points":[7],"sni_proxy_address":"h:1"}})",
             R"({"contact_info":{"local_dc":"d","sni_proxy_address":"h:1"}})",
         }) {
        EXPECT_TRUE(std::holds_alternative<std::string>(parse_astra_metadata(json))) << json;
    }
}

TEST(astra_tls, pem_material_that_is_not_pem_is_refused) {
    auto c = net::tls_context::make_client_pem("CA PEM", "", "");
    ASSERT_TRUE(std::holds_alternative<std::string>(c));
    EXPECT_NE(std::get<std::string>(c).find("CA"), std::string::npos);
}

}  // namespace
}  // namespace tandem::core
