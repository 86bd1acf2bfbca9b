#include "core/pending.hh"

#include <algorithm>

namespace tandem::core {

void pending::hold(int side, const inbound_envelope& e, bool buffers_plentiful) {
    first_side = static_cast<int8_t>(side);
    first_h = e.header;
    if (!e.owner.empty() && buffers_plentiful) {
        first_owner = e.owner.share();
        first_in_copy = false;
    } else {
        hold_copy(e.body);
    }
}

void pending_extra::clear() {
    query.clear();
    keyspace.clear();
    cluster_query.clear();
    generated.clear();
    prep_route = route::both;
    prep_write = prep_replayable = generated_named = keyspace_flag = false;
    request_id.clear();
}

// Back to free: strings cleared (their capacity stays), nothing held, no timer.
void pending::reset() {
    first_side = -1;
    drop_held();
    if (copies) {
        copies->side_body[0].clear();
        copies->side_body[1].clear();
    }
    if (x) x->clear();
    req_copy.clear();
    side_rewritten[0] = side_rewritten[1] = false;
    target_same = false;
    kept = false;
    healing = -1;
    healed = false;
    expect = got = destinations::none();
    proxy_stream[0] = proxy_stream[1] = -1;
    auth_steps = 0;
    journal_id = 0;
    answered = false;
    bytes = 0;
    secondary_ok = false;
    table = 0xFFFF;
    compare_tag = 0;
    shared_tag[0] = shared_tag[1] = 0;
    shared_node[0] = shared_node[1] = -1;
    timer.cancel();
}

pending& pending_table::take(request_kind k, int16_t stream) {
    uint32_t i;
    if (!_free.empty()) {
        i = _free.take(_slots.size());
    } else {
        i = static_cast<uint32_t>(_slots.size());
        _slots.push_back(std::make_unique<pending>());
        _slots.back()->index = i;
        _slots.back()->gen = _gen_base;
    }
    pending& p = *_slots[i];
    p.used = true;
    ++p.gen;
    p.kind = k;
    p.client_stream = stream;
    mark_stream(stream, true);
    return p;
}

void pending_table::release(pending& p) {
    mark_stream(p.client_stream, false);
    p.reset();
    p.used = false;
    _free.give(p.index, _slots.size());
}

void pending_table::trim(size_t keep, size_t max_string) {
    bool dropped = false;
    while (_slots.size() > keep && !_slots.back()->used) {
        _gen_base = std::max(_gen_base, _slots.back()->gen + 1);
        _slots.pop_back();
        dropped = true;
    }
    if (dropped) {
        _free.cut(_slots.size());
        if (_slots.capacity() > 2 * _slots.size() + small) _slots.shrink_to_fit();
    }
    auto shrink = [&](std::string& s) {
        if (s.capacity() > max_string) std::string().swap(s);
    };
    for (uint32_t i : _free.indexes()) {
        pending& p = *_slots[i];
        shrink(p.req_copy);
        p.copies.reset();  // made again by the next request that needs them
        p.held_copy.reset();
        p.x.reset();  // made again by the next PREPARE or traced request
    }
}

void pending_table::mark_stream(int16_t stream, bool busy) {
    if (stream < 0) return;
    size_t word = static_cast<size_t>(stream) / 64;
    if (word >= _busy_streams.size()) {
        if (!busy) return;
        _busy_streams.resize(word + 1, 0);
    }
    uint64_t bit = uint64_t{1} << (static_cast<size_t>(stream) % 64);
    _busy_streams[word] = busy ? _busy_streams[word] | bit : _busy_streams[word] & ~bit;
}

bool pending_table::stream_busy(int16_t stream) const {
    size_t word = static_cast<size_t>(stream) / 64;
    return stream >= 0 && word < _busy_streams.size() && (_busy_streams[word] >> (static_cast<size_t>(stream) % 64) & 1);
}

}  // namespace tandem::core
