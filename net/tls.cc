#include "net/tls.hh"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace tandem::net {

namespace {

std::string openssl_error(const std::string& what) {
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return what + (e ? std::string(": ") + buf : "");
}

}  // namespace

std::variant<std::shared_ptr<tls_context>, std::string> tls_context::make_server(const std::string& cert_path,
                                                                                 const std::string& key_path,
                                                                                 const std::string& ca_path,
                                                                                 bool require_client_auth) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return openssl_error("cannot create a TLS context");
    auto out = std::make_shared<tls_context>(ctx, true);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) return openssl_error("cannot read the certificate " + cert_path);
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) return openssl_error("cannot read the key " + key_path);
    if (SSL_CTX_check_private_key(ctx) != 1) return openssl_error("the key " + key_path + " does not match " + cert_path);
    if (!ca_path.empty()) {
        if (SSL_CTX_load_verify_locations(ctx, ca_path.c_str(), nullptr) != 1) return openssl_error("cannot read the CA " + ca_path);
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_path.c_str())) SSL_CTX_set_client_CA_list(ctx, names);
    }
    SSL_CTX_set_verify(ctx, require_client_auth ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_NONE, nullptr);
    return out;
}

std::variant<std::shared_ptr<tls_context>, std::string> tls_context::make_client(const std::string& ca_path,
                                                                                 const std::string& cert_path,
                                                                                 const std::string& key_path) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return openssl_error("cannot create a TLS context");
    auto out = std::make_shared<tls_context>(ctx, false);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ctx);
    if (!ca_path.empty() && SSL_CTX_load_verify_locations(ctx, ca_path.c_str(), nullptr) != 1) {
        return openssl_error("cannot read the CA " + ca_path);
    }
    if (!cert_path.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) return openssl_error("cannot read the certificate " + cert_path);
        if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) return openssl_error("cannot read the key " + key_path);
    }
    // The chain is verified; host names are not (R1.26).
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    return out;
}

std::variant<std::shared_ptr<tls_context>, std::string> tls_context::make_client_pem(std::string_view ca_pem,
                                                                                     std::string_view cert_pem,
                                                                                     std::string_view key_pem) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return openssl_error("cannot create a TLS context");
    auto out = std::make_shared<tls_context>(ctx, false);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ctx);
    auto bio = [](std::string_view pem) { return BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())); };
    if (!ca_pem.empty()) {
        BIO* b = bio(ca_pem);
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        int added = 0;
        while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
            added += X509_STORE_add_cert(store, x) == 1;
            X509_free(x);
        }
        BIO_free(b);
        ERR_clear_error();  // the end of the PEM text reads as an error
        if (added == 0) return std::string("the CA certificate holds no PEM certificate");
    }
    if (!cert_pem.empty()) {
        BIO* b = bio(cert_pem);
        X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
        BIO_free(b);
        if (!x) return openssl_error("cannot read the client certificate");
        int ok = SSL_CTX_use_certificate(ctx, x);
        X509_free(x);
        if (ok != 1) return openssl_error("cannot use the client certificate");
        b = bio(key_pem);
        EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
        BIO_free(b);
        if (!k) return openssl_error("cannot read the client key");
        ok = SSL_CTX_use_PrivateKey(ctx, k);
        EVP_PKEY_free(k);
        if (ok != 1 || SSL_CTX_check_private_key(ctx) != 1) return openssl_error("the client key does not match its certificate");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    return out;
}

tls_stream::tls_stream(const tls_context& ctx, const std::string& server_name) {
    _ssl = SSL_new(ctx.get());
    if (!server_name.empty()) SSL_ctrl(_ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(server_name.c_str()));
    _in = BIO_new(BIO_s_mem());
    _out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(_in, -1);
    SSL_set_bio(_ssl, _in, _out);  // the SSL owns both BIOs now
    if (ctx.server()) {
        SSL_set_accept_state(_ssl);
    } else {
        SSL_set_connect_state(_ssl);
    }
}

tls_stream::~tls_stream() { SSL_free(_ssl); }

std::string tls_stream::drain_out() {
    std::string out;
    char buf[16384];
    for (;;) {
        int n = BIO_read(_out, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

std::string tls_stream::start() {
    SSL_do_handshake(_ssl);
    return drain_out();
}

std::string tls_stream::flush_early() {
    if (_early.empty()) return {};
    std::string early = std::move(_early);
    _early.clear();
    return send(early);
}

std::string tls_stream::receive(std::string_view cipher, std::string& plain, std::string& wire) {
    if (!cipher.empty()) BIO_write(_in, cipher.data(), static_cast<int>(cipher.size()));
    if (!_established) {
        int r = SSL_do_handshake(_ssl);
        wire += drain_out();
        if (r != 1) {
            int e = SSL_get_error(_ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return {};
            return openssl_error("TLS handshake failed");
        }
        _established = true;
        wire += flush_early();
    }
    char buf[16384];
    for (;;) {
        int n = SSL_read(_ssl, buf, sizeof buf);
        if (n > 0) {
            plain.append(buf, static_cast<size_t>(n));
            continue;
        }
        int e = SSL_get_error(_ssl, n);
        wire += drain_out();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return {};
        if (e == SSL_ERROR_ZERO_RETURN) return "the peer closed the TLS session";
        return openssl_error("TLS error");
    }
}

std::string tls_stream::send(std::string_view plain) {
    if (!_established) {
        _early.append(plain);
        return {};
    }
    size_t at = 0;
    while (at < plain.size()) {
        int n = SSL_write(_ssl, plain.data() + at, static_cast<int>(plain.size() - at));
        if (n <= 0) break;
        at += static_cast<size_t>(n);
    }
    return drain_out();
}

}  // namespace tandem::net
