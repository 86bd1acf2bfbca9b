#include "core/client/cluster.hh"

#include "cql/murmur3.hh"
#include "cql/primitives.hh"

namespace tandem::core::client {

using cql::opcode;

namespace {

std::string inet_text(const std::optional<std::string_view>& cell) {
    auto addr = cell ? cql::inet_address::from_bytes(*cell) : std::nullopt;
    return addr ? addr->to_string() : std::string();
}

std::string uuid_text(const std::optional<std::string_view>& cell) { return cell ? cql::uuid_text(*cell) : std::string(); }

}  // namespace

std::optional<rows_result> read_rows(const reply& r, std::string& error, std::optional<std::string>* paging_state) {
    if (r.header.op != opcode::result) {
        error = r.describe();
        return std::nullopt;
    }
    auto res = cql::result_message::decode(r.body, cql::effective_version(r.header.version));
    if (!res) {
        error = "malformed RESULT: " + std::string(res.error());
        return std::nullopt;
    }
    if (res->kind != cql::result_kind::rows) return rows_result{};  // Void, Set_keyspace, Schema_change: no rows
    auto cells = res->rows();
    if (!cells) {
        error = "malformed rows: " + std::string(cells.error());
        return std::nullopt;
    }
    rows_result out;
    out.columns = res->metadata.columns;
    for (auto& row : *cells) {
        auto& o = out.rows.emplace_back();
        for (auto& c : row) o.push_back(c ? std::optional<std::string>(std::string(*c)) : std::nullopt);
    }
    if (paging_state) *paging_state = res->metadata.paging_state;
    return out;
}

namespace {

// The cell of `column` in `row`, or nullopt.
std::optional<std::string_view> cell(const rows_result& rs, size_t row, std::string_view column) {
    for (size_t i = 0; i < rs.columns.size(); ++i) {
        if (rs.columns[i].name == column && rs.rows[row][i]) return std::string_view(*rs.rows[row][i]);
    }
    return std::nullopt;
}

}  // namespace

cql::value_list bind_values(const std::vector<std::optional<std::string>>& values, std::string& storage) {
    std::vector<cql::bound_value> bound;
    bound.reserve(values.size());
    for (const auto& v : values) bound.push_back({{}, v ? cql::value_ref::of(*v) : cql::value_ref::null()});
    return cql::value_list::build(bound, false, storage);
}

std::string query_body(std::string_view text, uint8_t version, cql::consistency cl) {
    cql::query_message m;
    m.query = text;
    m.params.cl = cl;
    std::string b;
    m.encode(b, cql::effective_version(version));
    return b;
}

std::string routing_key(const std::vector<std::string_view>& components) {
    if (components.size() == 1) return std::string(components[0]);
    return cql::composite_partition_key(components);
}

cluster::cluster(net::worker& w, cluster_options opts) : _w(w), _opts(std::move(opts)) {}

cluster::~cluster() {
    *_alive = false;
    close();
}

void cluster::close() {
    auto all = _all;
    for (auto* c : all) c->close();
}

void cluster::connect(done_fn done) {
    _nodes.clear();
    node contact;
    contact.address = _opts.host;
    _nodes.push_back(contact);
    std::weak_ptr<bool> alive = _alive;
    connection::open(_w, _opts.host, _opts.port, _opts.connection, [this, alive, done](connection* c, const std::string& error) {
        if (alive.expired()) return;
        if (!c) {
            done(error);
            return;
        }
        _version = c->version();
        joined(0, c);
        if (!_opts.discover) {
            open_all(done);
            return;
        }
        discover(c, done);
    });
}

// system.local and system.peers: the nodes of the contact point's datacenter (or the one asked
// for) and their tokens; the contact point stays node 0.
void cluster::discover(connection* c, done_fn done) {
    std::weak_ptr<bool> alive = _alive;
    c->request(opcode::query, query_body("SELECT * FROM system.local", _version), [this, alive, c, done](const reply& r) {
        if (alive.expired()) return;
        std::string err;
        auto local = read_rows(r, err);
        if (!local || local->rows.empty()) {
            done("cannot read system.local to discover the nodes: " + (err.empty() ? "no row" : err) +
                 " (without discovery: only the contact point)");
            return;
        }
        node& n0 = _nodes[0];
        n0.datacenter = std::string(cell(*local, 0, "data_center").value_or(""));
        n0.rack = std::string(cell(*local, 0, "rack").value_or(""));
        n0.host_id = uuid_text(cell(*local, 0, "host_id"));
        _dc = _opts.local_datacenter.empty() ? n0.datacenter : _opts.local_datacenter;
        if (n0.datacenter == _dc) _ring.add_cell(0, cell(*local, 0, "tokens"));
        c->request(opcode::query, query_body("SELECT * FROM system.peers", _version), [this, alive, done](const reply& r2) {
            if (alive.expired()) return;
            std::string err2;
            auto peers = read_rows(r2, err2);
            if (!peers) {
                done("cannot read system.peers to discover the nodes: " + err2);
                return;
            }
            for (size_t i = 0; i < peers->rows.size(); ++i) {
                if (cell(*peers, i, "data_center").value_or("") != _dc) continue;
                node n;
                n.address = inet_text(cell(*peers, i, "rpc_address"));
                if (n.address.empty() || n.address == "0.0.0.0" || n.address == "::") n.address = inet_text(cell(*peers, i, "peer"));
                if (n.address.empty()) continue;
                n.datacenter = _dc;
                n.rack = std::string(cell(*peers, i, "rack").value_or(""));
                n.host_id = uuid_text(cell(*peers, i, "host_id"));
                if (!n.host_id.empty() && n.host_id == _nodes[0].host_id) continue;
                _nodes.push_back(n);
                _ring.add_cell(static_cast<uint32_t>(_nodes.size() - 1), cell(*peers, i, "tokens"));
            }
            _ring.build();
            open_all(done);
        });
    });
}

// The other connections: `connections_per_node` per node, the contact point's first included.
void cluster::open_all(done_fn done) {
    auto left = std::make_shared<int>(0);
    for (size_t n = 0; n < _nodes.size(); ++n) *left += _opts.connections_per_node - (n == 0 ? 1 : 0);
    if (*left == 0) {
        done({});
        return;
    }
    std::weak_ptr<bool> alive = _alive;
    connect_options o = _opts.connection;
    o.max_version = _version;  // negotiated once, on the contact point
    for (size_t n = 0; n < _nodes.size(); ++n) {
        for (int i = n == 0 ? 1 : 0; i < _opts.connections_per_node; ++i) {
            connection::open(_w, _nodes[n].address, _opts.port, o, [this, alive, n, left, done](connection* c, const std::string& error) {
                if (alive.expired()) return;
                if (c) {
                    joined(static_cast<uint32_t>(n), c);
                } else if (_nodes[n].up) {
                    // Like a driver: a node that cannot be reached is marked down; its keys go
                    // to the next node of the ring.
                    _nodes[n].up = false;
                    if (_opts.log) _opts.log(error + "; node marked down");
                }
                if (--*left == 0) done(_all.empty() ? "no node could be reached" : "");
            });
        }
    }
}

void cluster::joined(uint32_t node_index, connection* c) {
    _nodes[node_index].conns.push_back(c);
    _all.push_back(c);
    std::weak_ptr<bool> alive = _alive;
    c->on_closed([this, alive, node_index, c](int) {
        if (alive.expired()) return;
        auto& cs = _nodes[node_index].conns;
        std::erase(cs, c);
        std::erase(_all, c);
        if (cs.empty()) _nodes[node_index].up = false;
    });
}

connection* cluster::pick(std::optional<std::string_view> key) {
    return pick_token(key ? std::optional<int64_t>(cql::murmur3_token(*key)) : std::nullopt);
}

connection* cluster::pick_token(std::optional<int64_t> token_or_none) {
    if (token_or_none && !_ring.empty()) {
        const int64_t token = *token_or_none;
        for (size_t i = 0; i < _nodes.size(); ++i) {
            const node& n = _nodes[_ring.nth_after(token, i)];
            connection* best = nullptr;
            for (auto* c : n.conns) {
                if (c->has_room() && (!best || c->inflight() < best->inflight())) best = c;
            }
            if (best) return best;
        }
        return nullptr;
    }
    for (size_t i = 0; i < _all.size(); ++i) {
        auto* c = _all[_next++ % _all.size()];
        if (c->has_room()) return c;
    }
    return nullptr;
}

void cluster::prepare(std::string query, std::function<void(std::shared_ptr<const prepared_statement>, const std::string&)> done) {
    struct state {
        std::shared_ptr<prepared_statement> st = std::make_shared<prepared_statement>();
        std::string error;
        int left = 0;
        std::function<void(std::shared_ptr<const prepared_statement>, const std::string&)> done;
    };
    auto s = std::make_shared<state>();
    s->st->query = std::move(query);
    s->done = std::move(done);
    cql::prepare_message m;
    m.query = s->st->query;
    std::string body;
    m.encode(body, cql::effective_version(_version));
    std::weak_ptr<bool> alive = _alive;
    auto finish_one = [s] {
        if (--s->left > 0) return;
        if (s->error.empty() && s->st->id.empty()) s->error = "no node to prepare on";
        if (s->error.empty()) {
            s->done(s->st, {});
        } else {
            s->done(nullptr, s->error);
        }
    };
    ++s->left;  // held until every request is out
    for (auto& n : _nodes) {
        if (!n.up || n.conns.empty()) continue;
        const std::string where = n.address;
        ++s->left;
        bool sent = n.conns.front()->request(opcode::prepare, body, [s, where, finish_one](const reply& r) {
            auto res = r.header.op == opcode::result ? cql::result_message::decode(r.body, cql::effective_version(r.header.version))
                                                     : cql::result<cql::result_message>(cql::decode_error{""});
            if (!res || res->kind != cql::result_kind::prepared) {
                if (s->error.empty()) s->error = "PREPARE failed on " + where + ": " + r.describe();
            } else if (s->st->id.empty()) {
                s->st->id = res->prepared_id;
                s->st->result_metadata_id = res->result_metadata_id;
                s->st->metadata = res->prepared;
                s->st->result_metadata = res->result_metadata;
            } else if (s->st->id != res->prepared_id && s->error.empty()) {
                s->error = "node " + where + " gave another id for " + s->st->query + " than the other nodes";
            }
            finish_one();
        });
        if (!sent) {
            if (s->error.empty()) s->error = "no free stream id on " + where;
            --s->left;
        }
    }
    finish_one();
}

struct paging {
    std::string query;
    cql::query_parameters params;
    std::optional<std::string> state;
    std::optional<int64_t> token;  // read from a replica of this token
    rows_result rows;
    std::function<void(rows_result, const std::string&)> done;
};

void cluster::query_all(std::string query, cql::query_parameters params, std::function<void(rows_result, const std::string&)> done,
                        std::optional<int64_t> token) {
    auto pg = std::make_shared<paging>();
    pg->token = token;
    pg->query = std::move(query);
    pg->params = params;
    if (!pg->params.page_size) pg->params.page_size = 5000;
    pg->done = std::move(done);
    fetch_page(pg);
}

void cluster::fetch_page(const std::shared_ptr<paging>& pg) {
    cql::query_message m;
    m.query = pg->query;
    m.params = pg->params;
    if (pg->state) m.params.paging_state = *pg->state;
    std::string body;
    m.encode(body, cql::effective_version(_version));
    connection* c = pick_token(pg->token);
    std::weak_ptr<bool> alive = _alive;
    if (!c || !c->request(opcode::query, body, [this, alive, pg](const reply& r) {
            if (alive.expired()) return;
            std::string err;
            std::optional<std::string> next;
            auto page = read_rows(r, err, &next);
            if (!page) {
                pg->done({}, err);
                return;
            }
            if (pg->rows.columns.empty()) pg->rows.columns = std::move(page->columns);
            for (auto& row : page->rows) pg->rows.rows.push_back(std::move(row));
            if (!next) {
                pg->done(std::move(pg->rows), {});
                return;
            }
            pg->state = std::move(next);
            fetch_page(pg);
        })) {
        pg->done({}, "no connection can take a request");
    }
}

}  // namespace tandem::core::client
