#include "core/client/blocking.hh"

namespace tandem::core::client {

using cql::opcode;

blocking_session::blocking_session(cluster_options opts, uint32_t timeout_ms) : _timeout(timeout_ms) {
    _cluster = std::make_unique<cluster>(_w, std::move(opts));
    std::promise<void> started;
    auto f = started.get_future();
    _thread = std::thread([this, &started] {
        bool up = false;
        try {
            _w.run([&started, &up](net::worker&) {
                up = true;
                started.set_value();
            });
        } catch (const std::exception& e) {
            // The worker could not start (io_uring refused, say): every call answers why.
            if (!up) {
                _failed = e.what();
                started.set_value();
            }
        }
    });
    f.wait();
}

blocking_session::~blocking_session() {
    if (!_failed.empty()) {
        _thread.join();
        return;
    }
    std::promise<void> closed;
    auto f = closed.get_future();
    _w.post([this, &closed] {
        _cluster.reset();  // closes every connection
        closed.set_value();
    });
    f.wait_for(_timeout);
    _w.stop(1000);
    if (_thread.joinable()) _thread.join();
}

template <class T>
T blocking_session::wait(std::future<T>& f, const T& on_timeout) {
    if (f.wait_for(_timeout) != std::future_status::ready) return on_timeout;
    return f.get();
}

std::string blocking_session::connect() {
    if (!_failed.empty()) return _failed;
    auto p = std::make_shared<std::promise<std::string>>();
    auto f = p->get_future();
    _w.post([this, p] { _cluster->connect([p](const std::string& error) { p->set_value(error); }); });
    return wait(f, std::string("no answer within ") + std::to_string(_timeout.count()) + " ms");
}

blocking_session::result blocking_session::query(const std::string& text, const std::vector<std::optional<std::string>>& values,
                                                 cql::consistency cl, int32_t page_size) {
    if (!_failed.empty()) return result{_failed, {}};
    auto p = std::make_shared<std::promise<result>>();
    auto f = p->get_future();
    _w.post([this, p, text, values, cl, page_size] {
        auto storage = std::make_shared<std::string>();
        cql::query_parameters params;
        params.cl = cl;
        params.page_size = page_size;
        if (!values.empty()) params.values = bind_values(values, *storage);
        _cluster->query_all(text, params, [p, storage](rows_result rows, const std::string& error) {
            p->set_value(result{error, std::move(rows)});
        });
    });
    return wait(f, result{"no answer within " + std::to_string(_timeout.count()) + " ms", {}});
}

std::shared_ptr<const prepared_statement> blocking_session::prepare(const std::string& text, std::string& error) {
    if (!_failed.empty()) {
        error = _failed;
        return nullptr;
    }
    using answer = std::pair<std::shared_ptr<const prepared_statement>, std::string>;
    auto p = std::make_shared<std::promise<answer>>();
    auto f = p->get_future();
    _w.post([this, p, text] {
        _cluster->prepare(text, [p](std::shared_ptr<const prepared_statement> st, const std::string& err) { p->set_value({st, err}); });
    });
    auto a = wait(f, answer{nullptr, "no answer within " + std::to_string(_timeout.count()) + " ms"});
    error = a.second;
    return a.first;
}

blocking_session::result blocking_session::execute(const prepared_statement& st, const std::vector<std::optional<std::string>>& values,
                                                   cql::consistency cl) {
    if (!_failed.empty()) return result{_failed, {}};
    auto p = std::make_shared<std::promise<result>>();
    auto f = p->get_future();
    _w.post([this, p, st, values, cl] {
        std::string storage;
        cql::execute_message m;
        m.id = st.id;
        m.result_metadata_id = st.result_metadata_id;
        m.params.cl = cl;
        m.params.values = bind_values(values, storage);
        std::string body;
        m.encode(body, cql::effective_version(_cluster->version()));
        // Token-aware when the values hold the whole partition key.
        std::optional<std::string> key;
        if (!st.metadata.pk_indexes.empty()) {
            std::vector<std::string_view> parts;
            for (uint16_t i : st.metadata.pk_indexes) {
                if (i < values.size() && values[i]) parts.push_back(*values[i]);
            }
            if (parts.size() == st.metadata.pk_indexes.size()) key = routing_key(parts);
        }
        connection* c = _cluster->pick(key ? std::optional<std::string_view>(*key) : std::nullopt);
        bool sent = c && c->request(opcode::execute, body, [p](const reply& r) {
            result out;
            if (auto rows = read_rows(r, out.error)) out.rows = std::move(*rows);
            p->set_value(std::move(out));
        });
        if (!sent) p->set_value(result{"no connection can take a request", {}});
    });
    return wait(f, result{"no answer within " + std::to_string(_timeout.count()) + " ms", {}});
}

}  // namespace tandem::core::client
