#include "cql/classifier.hh"

#include "cql/lexer.hh"

namespace tandem::cql {

namespace {

using namespace lex;

bool ends_term(const token& t) {
    switch (t.kind) {
        case tok::word:
        case tok::quoted:
        case tok::string:
        case tok::number:
        case tok::marker:
        case tok::named_marker:
            return true;
        case tok::punct:
            return t.ch == ')' || t.ch == ']' || t.ch == '}';
        default:
            return false;
    }
}

bool volatile_name(std::string_view w, volatile_function& out) {
    // Checked only for a word followed by '(' (rare), so a plain table will do.
    static constexpr std::pair<std::string_view, volatile_function> names[] = {
        {"now", volatile_function::now},
        {"uuid", volatile_function::uuid},
        {"currentdate", volatile_function::current_date},
        {"current_date", volatile_function::current_date},
        {"currenttime", volatile_function::current_time},
        {"current_time", volatile_function::current_time},
        {"currenttimeuuid", volatile_function::current_timeuuid},
        {"current_timeuuid", volatile_function::current_timeuuid},
        {"currenttimestamp", volatile_function::current_timestamp},
        {"current_timestamp", volatile_function::current_timestamp},
    };
    for (const auto& [name, fn] : names) {
        if (w.size() == name.size() && word_is(w, name)) {
            out = fn;
            return true;
        }
    }
    return false;
}

// Pulls tokens, and on the way records bind markers and volatile function calls, and keeps the
// bracket depth, so the statement rules below only look at structure.
class cursor {
    lexer _lx;
    statement_info& _info;
    token _prev;
    bool _prev_is_name_context = false;
    token _peeked;
    bool _has_peek = false;
    int _depth = 0;      // ( and [ nesting
    int _braces = 0;     // { nesting (map, set and UDT literals)
    // Open volatile calls: index into info.calls and the depth of their '('.
    std::array<std::pair<uint8_t, int>, 8> _open{};
    int _open_count = 0;

    void info_conditional() { _info.conditional = true; }

    // A volatile call starts at `name_begin`; its '(' is about to raise the depth.
    void open_call(volatile_function fn, uint32_t name_begin) {
        if (_info.call_count < max_reported_calls) {
            _info.calls[_info.call_count] = function_call{fn, name_begin, 0, _info.marker_count};
            if (_open_count < static_cast<int>(_open.size())) {
                _open[static_cast<size_t>(_open_count++)] = {_info.call_count, _depth};
            }
            ++_info.call_count;
        } else {
            _info.calls_overflow = true;
        }
    }
    // A ')' just lowered the depth; it closes the innermost open call at that depth.
    void close_call(uint32_t end) {
        if (_open_count > 0 && _open[static_cast<size_t>(_open_count - 1)].second == _depth) {
            _info.calls[_open[static_cast<size_t>(_open_count - 1)].first].end = end;
            --_open_count;
        }
    }

    token fetch() {
        token t = _lx.next();
        if (t.kind == tok::punct && t.ch == ':' && !(_braces > 0 && ends_term(_prev))) {
            // :name or :"name" is a named bind marker, unless it separates a map entry.
            token name = _lx.next();
            if (name.kind != tok::word && name.kind != tok::quoted) return _lx.fail("bad named bind marker", t.begin);
            t = token{tok::named_marker, t.begin, name.end, 0};
        }
        return t;
    }

    [[gnu::always_inline]] void note(token t) {
        switch (t.kind) {
            case tok::marker:
            case tok::named_marker:
                if (_info.marker_count < max_reported_markers) {
                    _info.markers[_info.marker_count] = bind_marker{t.begin, t.end, t.kind == tok::named_marker};
                }
                if (_info.marker_count < UINT16_MAX) ++_info.marker_count;
                (t.kind == tok::marker ? _info.positional_markers : _info.named_markers) = true;
                break;
            case tok::punct:
                switch (t.ch) {
                    case '(': {
                        volatile_function fn;
                        if (_prev.kind == tok::word && volatile_name(_lx.text(_prev), fn) && !_prev_is_name_context) {
                            open_call(fn, _prev.begin);
                        }
                        ++_depth;
                        break;
                    }
                    case '[': ++_depth; break;
                    case ')':
                        --_depth;
                        close_call(t.end);
                        break;
                    case ']': --_depth; break;
                    case '{': ++_braces; break;
                    case '}': --_braces; break;
                    default: break;
                }
                break;
            default:
                break;
        }
    }

public:
    cursor(std::string_view text, statement_info& info) : _lx(text), _info(info) {}

    // Takes the next token without noting it; commit() notes it, unread() gives it back.
    // Callers decide on a token in registers and only store it back when they reject it:
    // a peek buffer written and re-read for every token stalls store forwarding each time
    // (measured: half of classify() when every token went through peek()).
    token take() {
        if (_has_peek) {
            _has_peek = false;
            return _peeked;
        }
        return fetch();
    }
    void commit(token t) {
        note(t);
        // A word after INTO or '.' names a table ("INSERT INTO uuid (a)"), not a function.
        _prev_is_name_context = _prev.kind == tok::punct ? _prev.ch == '.' : is_word(_prev, "into");
        _prev = t;
    }
    void unread(token t) {
        _peeked = t;
        _has_peek = true;
    }
    token peek() {
        token t = take();
        unread(t);
        return t;
    }
    token next() {
        token t = take();
        commit(t);
        return t;
    }
    int depth() const { return _depth + _braces; }

    enum class stop_at : uint8_t { end, from, batch_child };
    // Where the scan stopped: the offset of the stop word, or `not_stopped` at the end of the
    // text or a lexing error. (A plain integer: a small struct with a bool came back through
    // the stack with a store-forwarding stall.)
    static constexpr uint32_t not_stopped = UINT32_MAX;
    using scan_stop = uint32_t;
    // The fast path: scans characters (no tokens) from where the token stream stands to the
    // end of the text or to a stop word at depth 0, noting bind markers, volatile calls, depth,
    // and for DML statements IF and USING ... TIMESTAMP. The token stream resumes at the stop
    // word (batch children) or after it (FROM). Measured: a third of the token path's cost.
    scan_stop scan(stop_at stop, bool dml);
    std::string_view text(const token& t) const { return _lx.text(t); }
    bool is_word(const token& t, std::string_view kw) const { return t.kind == tok::word && word_is(text(t), kw); }
    bool failed() const { return !_lx.problem.empty(); }
    std::string_view problem() const { return _lx.problem; }
    uint32_t problem_offset() const { return _lx.problem_offset; }

    bool accept(std::string_view kw) {
        token t = take();
        if (is_word(t, kw)) {
            commit(t);
            return true;
        }
        unread(t);
        return false;
    }
    bool accept_punct(char ch) {
        token t = take();
        if (t.kind == tok::punct && t.ch == static_cast<unsigned char>(ch)) {
            commit(t);
            return true;
        }
        unread(t);
        return false;
    }

    identifier ident(const token& t) const {
        if (t.kind == tok::quoted) return identifier{_lx.text(t).substr(1, t.end - t.begin - 2), true};
        if (t.kind == tok::word) return identifier{_lx.text(t), false};
        return identifier{};
    }

    // [keyspace.]name
    void qualified_name(identifier& ks, identifier& name) {
        token t = take();
        if (t.kind != tok::word && t.kind != tok::quoted) {
            unread(t);
            return;
        }
        commit(t);
        identifier first = ident(t);
        token dot = take();
        if (dot.kind == tok::punct && dot.ch == '.') {
            commit(dot);
            token u = take();
            if (u.kind == tok::word || u.kind == tok::quoted) {
                commit(u);
                ks = first;
                name = ident(u);
                return;
            }
            unread(u);
        } else {
            unread(dot);
        }
        name = first;
    }

    // The fast path for "[kw] [ks.]name" written plainly (unquoted names, spaces only): reads
    // it straight from the text. Returns false, consuming nothing, on anything else (comments,
    // quoted names), and the caller takes the token path. The statement head is a third of
    // classify() on the token path.
    bool fast_name(std::string_view kw, identifier& ks, identifier& name) {
        if (_has_peek) return false;
        const std::string_view s = _lx.source();
        const auto n = static_cast<uint32_t>(s.size());
        uint32_t i = _lx.offset();
        auto spaces = [&] {
            while (i < n && class_of(s[i]) == cc_space) ++i;
        };
        auto word = [&](uint32_t& b, uint32_t& e) {
            if (i >= n || class_of(s[i]) != cc_ident) return false;
            b = i++;
            while (i < n && is_word_class(s[i])) ++i;
            e = i;
            return true;
        };
        uint32_t b = 0, e = 0;
        spaces();
        if (!kw.empty()) {
            if (!word(b, e) || !word_is(s.substr(b, e - b), kw)) return false;
            spaces();
        }
        uint32_t b1 = 0, e1 = 0;
        if (!word(b1, e1)) return false;
        const uint32_t after_first = i;
        spaces();
        if (i < n && s[i] == '.') {
            ++i;
            spaces();
            uint32_t b2 = 0, e2 = 0;
            if (!word(b2, e2)) return false;
            ks = identifier{s.substr(b1, e1 - b1), false};
            name = identifier{s.substr(b2, e2 - b2), false};
            _prev = token(tok::word, b2, e2, 0);
        } else {
            i = after_first;
            name = identifier{s.substr(b1, e1 - b1), false};
            _prev = token(tok::word, b1, e1, 0);
        }
        // "INTO uuid (" and "ks.uuid (" name tables: the '(' after them is not a call.
        _prev_is_name_context = true;
        _lx.seek(i);
        return true;
    }

    // IF [NOT] EXISTS after CREATE/DROP.
    bool if_exists() {
        if (!accept("if")) return false;
        accept("not");
        accept("exists");
        return true;
    }
};

cursor::scan_stop cursor::scan(stop_at stop, bool dml) {
    const std::string_view s = _lx.source();
    const uint32_t n = static_cast<uint32_t>(s.size());
    // An unread token was not noted: the scan starts at it.
    uint32_t i = _has_peek ? _peeked.begin : _lx.offset();
    _has_peek = false;
    bool term = ends_term(_prev);           // the last token ends a term (for ':' in literals)
    bool word_before = _prev.kind == tok::word;  // the last token is a word (for calls)
    uint32_t word_begin = _prev.begin, word_end = _prev.end;
    bool dot_before_word = _prev_is_name_context;  // "ks.uuid(", "INTO uuid (": not calls
    bool last_dot = false;
    // "system.now(" is the system function (zdm-spec R7.2): the qualifier and where it began.
    bool dot_after_system = false, word_system_qualified = false;
    uint32_t qualifier_begin = 0, word_qualifier_begin = 0;
    bool in_using = false;
    auto fail = [&](std::string_view why, uint32_t at) {
        _lx.problem = why;
        _lx.problem_offset = at;
        _lx.seek(n);
        return not_stopped;
    };
    while (i < n) {
        // Spaces between tokens are skipped here rather than dispatched through the switch,
        // whose indirect branch is the scanner's main cost.
        if (s[i] == ' ') {
            if (++i == n) break;
            if (s[i] == ' ') continue;
        }
        const char c = s[i];
        switch (class_of(c)) {
            case cc_space:
                ++i;
                continue;
            case cc_ident: {
                uint32_t b = i;
                ++i;
                while (i < n && is_word_class(s[i])) ++i;
                std::string_view w(s.data() + b, i - b);
                if (_depth + _braces == 0) {
                    if (stop == stop_at::from && w.size() == 4 && word_is(w, "from")) {
                        _lx.seek(i);
                        _prev = token(tok::word, b, i, 0);
                        return b;
                    }
                    if (stop == stop_at::batch_child && w.size() >= 5 && w.size() <= 6 &&
                        (word_is(w, "insert") || word_is(w, "update") || word_is(w, "delete") || word_is(w, "apply"))) {
                        _lx.seek(b);
                        _prev = token(tok::punct, b, b, ';');
                        return b;
                    }
                    if (dml) {
                        switch (w.size()) {
                            case 2:
                                if (word_is(w, "if")) info_conditional();
                                break;
                            case 3:
                                if (word_is(w, "set")) in_using = false;
                                break;
                            case 5:
                                if (word_is(w, "using")) in_using = true;
                                else if (word_is(w, "where")) in_using = false;
                                break;
                            case 6:
                                if (word_is(w, "values")) in_using = false;
                                break;
                            case 9:
                                if (in_using && word_is(w, "timestamp")) _info.using_timestamp = true;
                                break;
                            default:
                                break;
                        }
                    }
                }
                word_before = true;
                dot_before_word = last_dot;
                word_system_qualified = last_dot && dot_after_system;
                word_qualifier_begin = qualifier_begin;
                word_begin = b;
                word_end = i;
                term = true;
                last_dot = false;
                continue;
            }
            case cc_digit: {
                ++i;
                while (i < n) {
                    uint8_t k = class_of(s[i]);
                    if (k == cc_ident || k == cc_digit || k == cc_dot) {
                        ++i;
                    } else if (k == cc_minus || s[i] == '+') {
                        // an exponent sign (1e-3), not hex (0x...)
                        if ((s[i - 1] | 0x20) == 'e' && i + 1 < n && class_of(s[i + 1]) == cc_digit &&
                            !((s[i - 1 - 1] | 0x20) == 'x')) {
                            ++i;
                        } else {
                            break;
                        }
                    } else {
                        break;
                    }
                }
                break;
            }
            case cc_quote:
            case cc_dquote: {
                uint32_t b = i++;
                for (;;) {
                    if (i >= n) return fail(c == '"' ? "unterminated quoted identifier" : "unterminated string literal", b);
                    if (s[i] == c) {
                        if (i + 1 < n && s[i + 1] == c) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    ++i;
                }
                ++i;
                if (c == '"' && i - b == 2) return fail("empty quoted identifier", b);
                term = true;
                word_before = false;
                last_dot = false;
                continue;
            }
            case cc_dollar: {
                if (i + 1 < n && s[i + 1] == '$') {
                    auto close = s.find("$$", i + 2);
                    if (close == std::string_view::npos) return fail("unterminated $$ string", i);
                    i = static_cast<uint32_t>(close + 2);
                    term = true;
                    word_before = false;
                    last_dot = false;
                    continue;
                }
                return fail("unexpected character", i);
            }
            case cc_minus:
                if (i + 1 < n && s[i + 1] == '-') {
                    while (i < n && s[i] != '\n') ++i;
                    continue;
                }
                ++i;
                term = false;
                word_before = false;
                last_dot = false;
                continue;
            case cc_slash:
                if (i + 1 < n && s[i + 1] == '/') {
                    while (i < n && s[i] != '\n') ++i;
                    continue;
                }
                if (i + 1 < n && s[i + 1] == '*') {
                    uint32_t b = i;
                    i += 2;
                    for (;;) {
                        if (i + 1 >= n) return fail("unterminated /* comment", b);
                        if (s[i] == '*' && s[i + 1] == '/') break;
                        ++i;
                    }
                    i += 2;
                    continue;
                }
                ++i;
                term = false;
                word_before = false;
                last_dot = false;
                continue;
            case cc_qmark:
                note(token(tok::marker, i, i + 1, 0));
                ++i;
                term = true;
                word_before = false;
                last_dot = false;
                continue;
            case cc_colon: {
                bool name_follows = i + 1 < n && (class_of(s[i + 1]) == cc_ident || s[i + 1] == '"');
                if (name_follows && !(_braces > 0 && term)) {
                    uint32_t b = i++;
                    if (s[i] == '"') {
                        uint32_t q = i++;
                        for (;;) {
                            if (i >= n) return fail("unterminated quoted identifier", q);
                            if (s[i] == '"') {
                                if (i + 1 < n && s[i + 1] == '"') {
                                    i += 2;
                                    continue;
                                }
                                break;
                            }
                            ++i;
                        }
                        ++i;
                    } else {
                        while (i < n && is_word_class(s[i])) ++i;
                    }
                    note(token(tok::named_marker, b, i, 0));
                    term = true;
                } else {
                    ++i;
                    term = false;
                }
                word_before = false;
                last_dot = false;
                continue;
            }
            case cc_open: {
                volatile_function fn;
                if (word_before && (!dot_before_word || word_system_qualified) &&
                    volatile_name(s.substr(word_begin, word_end - word_begin), fn)) {
                    open_call(fn, word_system_qualified ? word_qualifier_begin : word_begin);
                }
                ++_depth;
                ++i;
                term = false;
                word_before = false;
                last_dot = false;
                continue;
            }
            case cc_close:
                --_depth;
                close_call(i + 1);
                ++i;
                term = true;
                word_before = false;
                last_dot = false;
                continue;
            case cc_lsq:
                ++_depth;
                ++i;
                term = false;
                word_before = false;
                last_dot = false;
                continue;
            case cc_rsq:
                --_depth;
                ++i;
                term = true;
                word_before = false;
                last_dot = false;
                continue;
            case cc_lbrace:
                ++_braces;
                ++i;
                term = false;
                word_before = false;
                last_dot = false;
                continue;
            case cc_rbrace:
                --_braces;
                ++i;
                term = true;
                word_before = false;
                last_dot = false;
                continue;
            case cc_dot:
                if (i + 1 < n && class_of(s[i + 1]) == cc_digit) {
                    ++i;
                    while (i < n && (class_of(s[i]) == cc_digit || class_of(s[i]) == cc_ident)) ++i;
                    term = true;
                    word_before = false;
                    last_dot = false;
                    continue;
                }
                dot_after_system = word_before && word_end - word_begin == 6 && word_is(s.substr(word_begin, 6), "system");
                qualifier_begin = word_begin;
                ++i;
                term = false;
                word_before = false;
                last_dot = true;
                continue;
            case cc_punct:
                ++i;
                term = false;
                word_before = false;
                last_dot = false;
                continue;
            default:
                return fail("unexpected character", i);
        }
        // numbers fall through here
        term = true;
        word_before = false;
        last_dot = false;
    }
    _lx.seek(n);
    _prev = token(tok::end, n, n, 0);
    return not_stopped;
}

// The header of INSERT / UPDATE / DELETE up to the table name, then the rest.
bool dml(cursor& c, statement_info& info, statement_kind kind, bool in_batch, bool record_table) {
    identifier ks, table;
    if (kind == statement_kind::insert) {
        if (!c.fast_name("into", ks, table)) {
            if (!c.accept("into")) return false;
            c.qualified_name(ks, table);
        }
    } else if (kind == statement_kind::update) {
        if (!c.fast_name({}, ks, table)) c.qualified_name(ks, table);
    } else {
        // DELETE [selection] FROM table
        if (c.scan(cursor::stop_at::from, false) == cursor::not_stopped) return false;
        if (!c.fast_name({}, ks, table)) c.qualified_name(ks, table);
    }
    if (table.empty()) return false;
    if (record_table) {
        info.keyspace = ks;
        info.table = table;
    }
    c.scan(in_batch ? cursor::stop_at::batch_child : cursor::stop_at::end, true);
    return true;
}

void batch(cursor& c, statement_info& info) {
    if (c.accept("unlogged")) {
        info.batch_kind = 1;
    } else if (c.accept("counter")) {
        info.batch_kind = 2;
    } else {
        c.accept("logged");
    }
    if (!c.accept("batch")) {
        info.kind = statement_kind::other;
        return;
    }
    if (c.accept("using")) {
        if (c.accept("timestamp")) info.using_timestamp = true;
    }
    for (;;) {
        while (c.accept_punct(';')) {
        }
        token t = c.next();
        if (t.kind == tok::end || t.kind == tok::error) return;  // no APPLY BATCH: still a write
        statement_kind k;
        if (c.is_word(t, "insert")) {
            k = statement_kind::insert;
        } else if (c.is_word(t, "update")) {
            k = statement_kind::update;
        } else if (c.is_word(t, "delete")) {
            k = statement_kind::delete_;
        } else if (c.is_word(t, "apply")) {
            c.accept("batch");
            return;
        } else {
            continue;  // not a child we understand; it stays a write
        }
        ++info.batch_statements;
        dml(c, info, k, true, info.batch_statements == 1);
    }
}

void select(cursor& c, statement_info& info) {
    if (c.accept("json")) info.select_json = true;
    if (c.accept("distinct")) info.select_distinct = true;
    info.selectors_begin = c.peek().begin;
    auto from = c.scan(cursor::stop_at::from, false);
    if (from == cursor::not_stopped) {
        info.kind = statement_kind::other;  // SELECT without FROM
        return;
    }
    info.selectors_end = from;
    c.qualified_name(info.keyspace, info.table);
}

// CREATE / ALTER / DROP: which object, then its name.
void schema(cursor& c, statement_info& info, int verb /* 0 create, 1 alter, 2 drop */) {
    if (verb == 0 && c.accept("or")) c.accept("replace");
    bool custom = verb == 0 && c.accept("custom");
    token t = c.next();
    auto pick = [&](statement_kind create, statement_kind alter, statement_kind drop) {
        info.kind = verb == 0 ? create : verb == 1 ? alter : drop;
    };
    bool needs_on = false;  // INDEX name ON table, TRIGGER name ON table
    if (c.is_word(t, "keyspace") || c.is_word(t, "schema")) {
        pick(statement_kind::create_keyspace, statement_kind::alter_keyspace, statement_kind::drop_keyspace);
        info.if_exists_clause = c.if_exists();
        token k = c.peek();
        if (k.kind == tok::word || k.kind == tok::quoted) {
            c.next();
            info.keyspace = c.ident(k);
        }
        return;
    }
    if (c.is_word(t, "table") || c.is_word(t, "columnfamily")) {
        pick(statement_kind::create_table, statement_kind::alter_table, statement_kind::drop_table);
    } else if (c.is_word(t, "index")) {
        pick(statement_kind::create_index, statement_kind::other, statement_kind::drop_index);
        needs_on = verb == 0;
    } else if (custom) {
        info.kind = statement_kind::other;
        return;
    } else if (c.is_word(t, "type")) {
        pick(statement_kind::create_type, statement_kind::alter_type, statement_kind::drop_type);
    } else if (c.is_word(t, "function")) {
        pick(statement_kind::create_function, statement_kind::other, statement_kind::drop_function);
    } else if (c.is_word(t, "aggregate")) {
        pick(statement_kind::create_aggregate, statement_kind::other, statement_kind::drop_aggregate);
    } else if (c.is_word(t, "materialized")) {
        c.accept("view");
        pick(statement_kind::create_view, statement_kind::alter_view, statement_kind::drop_view);
    } else if (c.is_word(t, "trigger")) {
        pick(statement_kind::create_trigger, statement_kind::other, statement_kind::drop_trigger);
        needs_on = true;
    } else if (c.is_word(t, "role") || c.is_word(t, "user")) {
        pick(statement_kind::create_role, statement_kind::alter_role, statement_kind::drop_role);
        info.if_exists_clause = c.if_exists();
        token k = c.peek();
        if (k.kind == tok::word || k.kind == tok::quoted || k.kind == tok::string) {
            c.next();
            info.table = k.kind == tok::string ? identifier{c.text(k).substr(1, k.end - k.begin - 2), true} : c.ident(k);
        }
        return;
    } else {
        info.kind = statement_kind::other;
        return;
    }
    info.if_exists_clause = c.if_exists();
    if (needs_on) {
        // [name] ON [ks.]table: the statement names the table it is on.
        identifier ignored_ks, object;
        if (!c.is_word(c.peek(), "on")) c.qualified_name(ignored_ks, object);
        if (c.accept("on")) {
            c.qualified_name(info.keyspace, info.table);
        } else {
            info.table = object;
        }
        return;
    }
    c.qualified_name(info.keyspace, info.table);
}

}  // namespace

std::string_view to_string(statement_kind k) {
    switch (k) {
        case statement_kind::empty: return "empty";
        case statement_kind::unlexable: return "unlexable";
        case statement_kind::other: return "other";
        case statement_kind::select: return "select";
        case statement_kind::insert: return "insert";
        case statement_kind::update: return "update";
        case statement_kind::delete_: return "delete";
        case statement_kind::batch: return "batch";
        case statement_kind::use: return "use";
        case statement_kind::truncate: return "truncate";
        case statement_kind::create_keyspace: return "create_keyspace";
        case statement_kind::alter_keyspace: return "alter_keyspace";
        case statement_kind::drop_keyspace: return "drop_keyspace";
        case statement_kind::create_table: return "create_table";
        case statement_kind::alter_table: return "alter_table";
        case statement_kind::drop_table: return "drop_table";
        case statement_kind::create_index: return "create_index";
        case statement_kind::drop_index: return "drop_index";
        case statement_kind::create_type: return "create_type";
        case statement_kind::alter_type: return "alter_type";
        case statement_kind::drop_type: return "drop_type";
        case statement_kind::create_function: return "create_function";
        case statement_kind::drop_function: return "drop_function";
        case statement_kind::create_aggregate: return "create_aggregate";
        case statement_kind::drop_aggregate: return "drop_aggregate";
        case statement_kind::create_view: return "create_view";
        case statement_kind::alter_view: return "alter_view";
        case statement_kind::drop_view: return "drop_view";
        case statement_kind::create_trigger: return "create_trigger";
        case statement_kind::drop_trigger: return "drop_trigger";
        case statement_kind::create_role: return "create_role";
        case statement_kind::alter_role: return "alter_role";
        case statement_kind::drop_role: return "drop_role";
        case statement_kind::grant: return "grant";
        case statement_kind::revoke: return "revoke";
        case statement_kind::list: return "list";
        case statement_kind::call: return "call";
    }
    return "unknown";
}

std::string_view to_string(volatile_function f) {
    switch (f) {
        case volatile_function::now: return "now";
        case volatile_function::uuid: return "uuid";
        case volatile_function::current_timestamp: return "currenttimestamp";
        case volatile_function::current_date: return "currentdate";
        case volatile_function::current_time: return "currenttime";
        case volatile_function::current_timeuuid: return "currenttimeuuid";
    }
    return "unknown";
}

bool is_write(statement_kind k) {
    return k == statement_kind::insert || k == statement_kind::update || k == statement_kind::delete_ ||
           k == statement_kind::batch;
}

bool is_ddl(statement_kind k) {
    return (k >= statement_kind::truncate && k <= statement_kind::drop_trigger);
}

bool is_auth(statement_kind k) { return k >= statement_kind::create_role && k <= statement_kind::list; }

bool identifier::equals(std::string_view lower_name) const {
    if (quoted) {
        // Quoted: exact, with "" standing for one quote.
        if (text.find('"') == std::string_view::npos) return text == lower_name;
        return normalized() == lower_name;
    }
    return word_is(text, lower_name);
}

std::string identifier::normalized() const {
    std::string out;
    out.reserve(text.size());
    if (quoted) {
        for (size_t i = 0; i < text.size(); ++i) {
            out.push_back(text[i]);
            if (text[i] == '"' && i + 1 < text.size() && text[i + 1] == '"') ++i;
        }
        return out;
    }
    for (char ch : text) out.push_back(lower(ch));
    return out;
}

statement_info classify(std::string_view text) {
    statement_info info;
    if (text.size() > UINT32_MAX) {
        info.kind = statement_kind::unlexable;
        info.problem = "statement too long";
        return info;
    }
    cursor c(text, info);
    token first = c.next();
    if (first.kind == tok::end) {
        info.kind = statement_kind::empty;
    } else if (first.kind != tok::word) {
        info.kind = statement_kind::other;
    } else if (c.is_word(first, "select")) {
        info.kind = statement_kind::select;
        select(c, info);
    } else if (c.is_word(first, "insert")) {
        info.kind = statement_kind::insert;
        if (!dml(c, info, statement_kind::insert, false, true)) info.kind = statement_kind::other;
    } else if (c.is_word(first, "update")) {
        info.kind = statement_kind::update;
        if (!dml(c, info, statement_kind::update, false, true)) info.kind = statement_kind::other;
    } else if (c.is_word(first, "delete")) {
        info.kind = statement_kind::delete_;
        if (!dml(c, info, statement_kind::delete_, false, true)) info.kind = statement_kind::other;
    } else if (c.is_word(first, "begin")) {
        info.kind = statement_kind::batch;
        batch(c, info);
    } else if (c.is_word(first, "use")) {
        info.kind = statement_kind::use;
        token k = c.next();
        info.keyspace = c.ident(k);
        if (info.keyspace.empty()) info.kind = statement_kind::other;
    } else if (c.is_word(first, "truncate")) {
        info.kind = statement_kind::truncate;
        c.accept("table");
        c.qualified_name(info.keyspace, info.table);
    } else if (c.is_word(first, "create")) {
        schema(c, info, 0);
    } else if (c.is_word(first, "alter")) {
        schema(c, info, 1);
    } else if (c.is_word(first, "drop")) {
        schema(c, info, 2);
    } else if (c.is_word(first, "grant")) {
        info.kind = statement_kind::grant;
    } else if (c.is_word(first, "revoke")) {
        info.kind = statement_kind::revoke;
    } else if (c.is_word(first, "list")) {
        info.kind = statement_kind::list;
    } else if (c.is_word(first, "call")) {
        info.kind = statement_kind::call;
        c.qualified_name(info.keyspace, info.table);
    } else {
        info.kind = statement_kind::other;
    }
    // Read to the end: markers everywhere, and a lexing error anywhere, must be seen.
    c.scan(cursor::stop_at::end, false);
    if (c.failed()) {
        info.kind = statement_kind::unlexable;
        info.problem = c.problem();
        info.problem_offset = c.problem_offset();
        return info;
    }
    if (!is_write(info.kind)) {
        info.call_count = 0;
        info.calls_overflow = false;
    }
    return info;
}

result<std::vector<selector>> parse_selectors(std::string_view text, const statement_info& info) {
    if (info.kind != statement_kind::select || info.selectors_end < info.selectors_begin ||
        info.selectors_end > text.size()) {
        return decode_error{"not a SELECT"};
    }
    std::string_view clause = text.substr(0, info.selectors_end);
    lexer lx(clause, info.selectors_begin);
    std::vector<selector> out;
    selector cur;
    uint32_t start = 0;
    int depth = 0;
    int tokens = 0;
    token first, second, last;
    bool have_alias = false;
    auto finish = [&]() -> bool {
        if (tokens == 0) return false;
        cur.text = clause.substr(start, last.end - start);
        if (tokens == 1 && first.kind == tok::punct && first.ch == '*') {
            cur.k = selector::kind::star;
        } else if (tokens == 1 && (first.kind == tok::word || first.kind == tok::quoted)) {
            cur.k = selector::kind::column;
            cur.column = first.kind == tok::quoted ? identifier{lx.text(first).substr(1, first.end - first.begin - 2), true}
                                                   : identifier{lx.text(first), false};
        } else if (first.kind == tok::word && second.kind == tok::punct && second.ch == '(') {
            cur.k = word_is(lx.text(first), "count") ? selector::kind::count : selector::kind::function;
            cur.column = identifier{lx.text(first), false};
        } else {
            cur.k = selector::kind::other;
        }
        out.push_back(cur);
        cur = selector{};
        tokens = 0;
        have_alias = false;
        return true;
    };
    for (;;) {
        token t = lx.next();
        if (t.kind == tok::error) return decode_error{lx.problem};
        if (t.kind == tok::end) break;
        if (depth == 0 && t.kind == tok::punct && t.ch == ',') {
            if (!finish()) return decode_error{"empty selector"};
            continue;
        }
        if (depth == 0 && t.kind == tok::word && word_is(lx.text(t), "as") && tokens > 0) {
            token a = lx.next();
            if (a.kind != tok::word && a.kind != tok::quoted) return decode_error{"AS without an alias"};
            cur.alias = a.kind == tok::quoted ? identifier{lx.text(a).substr(1, a.end - a.begin - 2), true}
                                              : identifier{lx.text(a), false};
            have_alias = true;
            continue;
        }
        if (have_alias) return decode_error{"unexpected text after an alias"};
        if (t.kind == tok::punct && (t.ch == '(' || t.ch == '[' || t.ch == '{')) ++depth;
        if (t.kind == tok::punct && (t.ch == ')' || t.ch == ']' || t.ch == '}')) --depth;
        if (tokens == 0) {
            first = t;
            start = t.begin;
        } else if (tokens == 1) {
            second = t;
        }
        last = t;
        ++tokens;
    }
    if (!finish()) return decode_error{"empty selector"};
    return out;
}

}  // namespace tandem::cql
