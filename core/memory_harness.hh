#pragma once
// A whole proxy driven in memory, without sockets or clusters: the in-process benchmark of the
// request path (bench/session_bench.cc) and the session tests (tests/core/session_test.cc) feed
// real client_sessions through net/'s memory transport. Two fake clusters (one node each) answer
// what tandem sends them: SUPPORTED, READY, RESULT Prepared (each cluster with its own id, so
// EXECUTE is rewritten for target) and RESULT Void, unless a test installs its own answer.
//
// One thread: every call runs worker turns on the caller's thread until nothing is left to do.

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hh"
#include "core/proxy.hh"
#include "cql/envelope.hh"

namespace tandem::core {

class memory_harness {
public:
    // Settings: the clusters' addresses are not used; everything else is (timeouts, read mode...).
    explicit memory_harness(config cfg, uint8_t cluster_version = cql::protocol_version::v4);
    ~memory_harness();
    memory_harness(const memory_harness&) = delete;
    memory_harness& operator=(const memory_harness&) = delete;

    // Opens a client connection and lets the session connect to both clusters.
    void open_client();
    // Bytes from the client (any number of envelopes, split anywhere); runs turns, delivering
    // the clusters' answers, until the proxy is idle.
    void client_sends(std::string_view bytes);
    // What the client received since the last call.
    std::string client_received();
    // Its size only, forgetting the bytes (for the benchmark: no allocation).
    size_t client_received_size() {
        size_t n = _client_bytes.size();
        _client_bytes.clear();
        return n;
    }
    // Off: received() and last_body() stop recording (for the benchmark).
    void keep_history(bool on) { _history = on; }
    // Closes the client connection and everything it opened.
    void close_client();

    // A cluster's answer to one request (0 origin, 1 target): the reply envelope bytes, or none
    // to leave it unanswered. The default answers as described above.
    using answer_fn = std::function<std::optional<std::string>(int cluster, const cql::envelope_view& request)>;
    void set_answer(answer_fn fn) { _answer = std::move(fn); }
    std::optional<std::string> default_answer(int cluster, const cql::envelope_view& request);
    // Requests each cluster received, by opcode.
    const std::vector<cql::opcode>& received(int cluster) const { return _received[cluster]; }
    // The last request body each cluster received, copied.
    const std::string& last_body(int cluster) const { return _last_body[cluster]; }
    const std::string& prepared_id(int cluster) const { return _prepared_id[cluster]; }

    proxy& p() { return *_proxy; }
    net::worker& w() { return *_worker; }

private:
    void on_sent(net::connection& c, std::string_view bytes);
    void settle();

    std::unique_ptr<net::worker> _worker;
    std::unique_ptr<proxy> _proxy;
    net::connection* _client = nullptr;
    std::string _client_bytes;
    struct link {
        int cluster;
        std::string pending;  // bytes not yet a whole envelope
    };
    std::vector<std::pair<net::connection*, link>> _links;
    std::vector<std::pair<net::connection*, std::string>> _replies;  // to deliver after the turn
    std::vector<std::pair<net::connection*, std::string>> _delivering;
    answer_fn _answer;
    bool _history = true;
    std::vector<cql::opcode> _received[2];
    std::string _last_body[2];
    std::string _prepared_id[2];
    std::string _void_result;  // a RESULT Void envelope; its stream id is patched per reply
};

}  // namespace tandem::core
