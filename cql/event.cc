#include "cql/event.hh"

namespace tandem::cql {

result<event_message> event_message::decode(std::string_view body) {
    reader r(body);
    event_message m;
    m.type = std::string(r.read_string());
    if (!r.ok()) return decode_error{r.error()};
    if (m.type == "TOPOLOGY_CHANGE" || m.type == "STATUS_CHANGE") {
        m.change = std::string(r.read_string());
        m.address = r.read_inet();
        if (r.ok()) {
            bool topo = m.type == "TOPOLOGY_CHANGE";
            bool valid = topo ? (m.change == "NEW_NODE" || m.change == "REMOVED_NODE" || m.change == "MOVED_NODE")
                              : (m.change == "UP" || m.change == "DOWN");
            if (!valid) return decode_error{"unknown change in a topology or status event"};
        }
    } else if (m.type == "SCHEMA_CHANGE") {
        m.schema = schema_change::read(r);
    } else {
        return decode_error{"unknown event type"};
    }
    if (!r.ok()) return decode_error{r.error()};
    if (!r.at_end()) return decode_error{"bytes after the end of the message"};
    return m;
}

void event_message::encode(std::string& out) const {
    writer w(out);
    w.write_string(type);
    if (type == "SCHEMA_CHANGE") {
        schema.write(w);
    } else {
        w.write_string(change);
        w.write_inet(address);
    }
}

}  // namespace tandem::cql
