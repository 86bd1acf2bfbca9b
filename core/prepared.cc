#include "core/prepared.hh"

namespace tandem::core {

void prepared_store::put(std::shared_ptr<const prepared_entry> e) {
    std::lock_guard g(_lock);
    auto [it, fresh] = _by_origin.insert_or_assign(e->origin_id, e);
    (void)it;
    if (!e->target_id.empty()) _origin_by_target[e->target_id] = e->origin_id;
    if (fresh) _order.push_back(e->origin_id);
    while (_by_origin.size() > _capacity && !_order.empty()) {
        auto old = _by_origin.find(_order.front());
        if (old != _by_origin.end()) {
            _origin_by_target.erase(old->second->target_id);
            _by_origin.erase(old);
        }
        _order.pop_front();
    }
}

std::shared_ptr<const prepared_entry> prepared_store::find(std::string_view origin_id) const {
    std::lock_guard g(_lock);
    auto it = _by_origin.find(origin_id);
    return it == _by_origin.end() ? nullptr : it->second;
}

std::optional<std::string> prepared_store::origin_for_target(std::string_view target_id) const {
    std::lock_guard g(_lock);
    auto it = _origin_by_target.find(target_id);
    if (it == _origin_by_target.end()) return std::nullopt;
    return it->second;
}

size_t prepared_store::size() const {
    std::lock_guard g(_lock);
    return _by_origin.size();
}

const prepared_entry* prepared_cache::find(std::string_view origin_id) {
    auto it = _local.find(origin_id);
    if (it != _local.end()) return it->second.get();
    auto e = _store.find(origin_id);
    if (!e) return nullptr;
    const prepared_entry* p = e.get();
    if (_local.size() >= _capacity) _local.clear();  // bounded; refilled from the store
    _local.emplace(e->origin_id, std::move(e));
    return p;
}

void prepared_cache::put(std::shared_ptr<const prepared_entry> e) {
    if (_local.size() >= _capacity) _local.clear();
    _local.insert_or_assign(e->origin_id, e);
    _store.put(std::move(e));
}

}  // namespace tandem::core
