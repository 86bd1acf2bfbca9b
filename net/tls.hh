#pragma once
// TLS on a connection whose bytes the io_uring runtime moves (zdm-spec R1.26, R1.27): OpenSSL
// works on memory BIOs, so net/ keeps receiving and sending ciphertext and this layer turns it
// into plaintext and back. One tls_stream per connection, on its worker's thread; a tls_context
// (certificates, verification) is shared, read-only, by every worker.
//
// Verification follows ZDM Proxy: a cluster's certificate chain is checked against the given CA
// (and the system roots), without hostname verification; a client certificate, when required,
// against the proxy's CA.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace tandem::net {

class tls_context {
    SSL_CTX* _ctx = nullptr;
    bool _server = false;

public:
    tls_context(SSL_CTX* ctx, bool server) : _ctx(ctx), _server(server) {}
    ~tls_context() { SSL_CTX_free(_ctx); }
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;
    SSL_CTX* get() const { return _ctx; }
    bool server() const { return _server; }

    // The client-facing side: certificate and key, CA for client certificates.
    static std::variant<std::shared_ptr<tls_context>, std::string> make_server(const std::string& cert_path,
                                                                               const std::string& key_path,
                                                                               const std::string& ca_path,
                                                                               bool require_client_auth);
    // The cluster side: the CA that signed the cluster's certificates; a client certificate and
    // key for mutual TLS (both or neither).
    static std::variant<std::shared_ptr<tls_context>, std::string> make_client(const std::string& ca_path,
                                                                               const std::string& cert_path,
                                                                               const std::string& key_path);
    // The same from PEM text held in memory (an Astra secure connect bundle's ca.crt, cert and
    // key, R1.25): nothing is written to disk.
    static std::variant<std::shared_ptr<tls_context>, std::string> make_client_pem(std::string_view ca_pem,
                                                                                   std::string_view cert_pem,
                                                                                   std::string_view key_pem);
};

class tls_stream {
    SSL* _ssl = nullptr;
    BIO* _in = nullptr;   // ciphertext received, for OpenSSL to read
    BIO* _out = nullptr;  // ciphertext OpenSSL produced, to send
    std::string _early;   // plaintext written before the handshake completed
    bool _established = false;

    std::string drain_out();
    std::string flush_early();

public:
    // `server_name`: the SNI a client sends (an Astra node's host id, R1.25), or none.
    explicit tls_stream(const tls_context& ctx, const std::string& server_name = {});
    ~tls_stream();
    tls_stream(const tls_stream&) = delete;
    tls_stream& operator=(const tls_stream&) = delete;

    // Client side: the ClientHello to send.
    std::string start();
    // Ciphertext arrived: plaintext is appended to `plain`, ciphertext to send (handshake,
    // alerts, early writes) to `wire`. Returns an error text when the session failed.
    std::string receive(std::string_view cipher, std::string& plain, std::string& wire);
    // Plaintext to send; the ciphertext is returned (empty while the handshake is running: the
    // bytes go out once it completes).
    std::string send(std::string_view plain);
    bool established() const { return _established; }
};

}  // namespace tandem::net
