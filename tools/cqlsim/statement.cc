#include "tools/cqlsim/statement.hh"

#include "cql/classifier.hh"
#include "cql/lexer.hh"

namespace tandem::cqlsim {

using namespace cql::lex;

std::string normalize_identifier(std::string_view raw, bool quoted) {
    return cql::identifier{raw, quoted}.normalized();
}

namespace {

struct failure {
    std::string message;
};

class parser {
    std::string_view _s;
    lexer _lx;
    token _cur;
    statement& _st;

public:
    parser(std::string_view s, statement& st) : _s(s), _lx(s), _st(st) { advance(); }

    [[noreturn]] void fail(const std::string& what) {
        // Cassandra reports positions as line:column.
        uint32_t at = _cur.begin;
        int line = 1;
        uint32_t line_start = 0;
        for (uint32_t i = 0; i < at && i < _s.size(); ++i) {
            if (_s[i] == '\n') {
                ++line;
                line_start = i + 1;
            }
        }
        std::string near = _cur.kind == tok::end ? "<EOF>" : std::string(_lx.text(_cur));
        throw failure{"line " + std::to_string(line) + ":" + std::to_string(at - line_start) + " " + what +
                      " (at input '" + near + "')"};
    }

    void advance() {
        _cur = _lx.next();
        if (_cur.kind == tok::error) {
            throw failure{"line 1:" + std::to_string(_lx.problem_offset) + " " + std::string(_lx.problem)};
        }
    }
    std::string_view text() const { return _lx.text(_cur); }
    bool is_word(std::string_view kw) const { return _cur.kind == tok::word && word_is(text(), kw); }
    bool is_punct(char c) const { return _cur.kind == tok::punct && _cur.ch == static_cast<unsigned char>(c); }
    bool accept(std::string_view kw) {
        if (!is_word(kw)) return false;
        advance();
        return true;
    }
    bool accept_punct(char c) {
        if (!is_punct(c)) return false;
        advance();
        return true;
    }
    void expect(std::string_view kw) {
        if (!accept(kw)) fail("mismatched input, expecting " + upper(kw));
    }
    void expect_punct(char c) {
        if (!accept_punct(c)) fail(std::string("mismatched input, expecting '") + c + "'");
    }
    static std::string upper(std::string_view s) {
        std::string o(s);
        for (auto& c : o) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        return o;
    }

    // Whether the current token is the identifier `column` (plain or "quoted").
    bool names_column(const std::string& column) const {
        if (_cur.kind == tok::word) return normalize_identifier(text(), false) == column;
        if (_cur.kind != tok::quoted) return false;
        auto t = text();
        return normalize_identifier(t.substr(1, t.size() - 2), true) == column;
    }

    std::string identifier() {
        if (_cur.kind == tok::word) {
            std::string id = normalize_identifier(text(), false);
            advance();
            return id;
        }
        if (_cur.kind == tok::quoted) {
            auto t = text();
            std::string id = normalize_identifier(t.substr(1, t.size() - 2), true);
            advance();
            return id;
        }
        fail("no viable alternative, expecting an identifier");
    }
    // [ks.]name
    void qualified(std::string& ks, std::string& name) {
        std::string first = identifier();
        if (accept_punct('.')) {
            ks = first;
            name = identifier();
        } else {
            name = first;
        }
    }
    bool if_not_exists() {
        if (!accept("if")) return false;
        expect("not");
        expect("exists");
        return true;
    }
    bool if_exists() {
        if (!accept("if")) return false;
        expect("exists");
        return true;
    }

    cql::cql_type type() {
        // Reads the type's text up to the matching '>' and hands it to the type parser.
        uint32_t start = _cur.begin;
        if (_cur.kind == tok::string) {
            auto t = text();
            advance();
            return cql::cql_type::custom_of(std::string(t.substr(1, t.size() - 2)));
        }
        identifier();
        if (accept_punct('.')) identifier();
        if (is_punct('<')) {
            int depth = 0;
            do {
                if (is_punct('<')) ++depth;
                if (is_punct('>')) --depth;
                if (_cur.kind == tok::end) fail("unterminated type");
                advance();
            } while (depth > 0);
        }
        uint32_t end = _cur.begin;
        std::string_view raw = _s.substr(start, end - start);
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t')) raw.remove_suffix(1);
        auto t = cql::parse_cql_type(raw);
        if (!t) fail("unknown type " + std::string(raw));
        return *t;
    }

    term marker(bool named) {
        term t;
        t.k = term::kind::marker;
        t.marker_index = _st.marker_count++;
        if (named) {
            t.marker_name = identifier();
        }
        _st.marker_names.push_back(t.marker_name);
        return t;
    }

    // Nested literals (tuples, collections, UDTs) recurse: a limit keeps a hostile statement from
    // overflowing the stack (found by the cqlsim_statement fuzzer).
    static constexpr int max_value_depth = 64;
    int _value_depth = 0;
    struct depth_guard {
        int& depth;
        ~depth_guard() { --depth; }
    };

    term value() {
        if (++_value_depth > max_value_depth) {
            --_value_depth;
            fail("literal nested more than 64 levels deep");
        }
        depth_guard guard{_value_depth};
        term t;
        if (_cur.kind == tok::marker) {
            advance();
            return marker(false);
        }
        if (is_punct(':')) {
            advance();
            return marker(true);
        }
        if (is_punct('-')) {
            advance();
            if (_cur.kind != tok::number && !is_word("nan") && !is_word("infinity")) fail("expecting a number after '-'");
            t = value();
            t.negative = true;
            return t;
        }
        switch (_cur.kind) {
            case tok::string: {
                auto raw = text();
                t.k = term::kind::string;
                if (raw.size() >= 4 && raw[0] == '$') {
                    t.text = std::string(raw.substr(2, raw.size() - 4));
                } else {
                    for (size_t i = 1; i + 1 < raw.size(); ++i) {
                        t.text.push_back(raw[i]);
                        if (raw[i] == '\'' && raw[i + 1] == '\'') ++i;
                    }
                }
                advance();
                return t;
            }
            case tok::number: {
                auto raw = text();
                t.text = std::string(raw);
                if (raw.size() == 36 && raw[8] == '-') {
                    t.k = term::kind::uuid;
                } else if (raw.size() > 1 && raw[0] == '0' && (raw[1] == 'x' || raw[1] == 'X')) {
                    t.k = term::kind::blob;
                } else {
                    bool alpha = false;
                    for (char c : raw) {
                        if ((c >= 'a' && c <= 'z' && c != 'e') || (c >= 'A' && c <= 'Z' && c != 'E')) alpha = true;
                    }
                    t.k = alpha ? term::kind::duration : term::kind::number;
                }
                advance();
                return t;
            }
            case tok::word: {
                if (is_word("null")) {
                    advance();
                    return t;
                }
                if (is_word("true") || is_word("false")) {
                    t.k = term::kind::boolean;
                    t.text = is_word("true") ? "true" : "false";
                    advance();
                    return t;
                }
                if (is_word("nan") || is_word("infinity")) {
                    t.k = term::kind::number;
                    t.text = std::string(text());
                    advance();
                    return t;
                }
                // A function call: name(args)
                t.k = term::kind::function;
                t.text = identifier();
                if (accept_punct('.')) t.text = identifier();  // system.now() → now
                expect_punct('(');
                if (!is_punct(')')) {
                    values_into(t.items);
                }
                expect_punct(')');
                return t;
            }
            case tok::punct: {
                if (accept_punct('[')) {
                    t.k = term::kind::list;
                    if (!is_punct(']')) {
                        values_into(t.items);
                    }
                    expect_punct(']');
                    return t;
                }
                if (accept_punct('(')) {
                    t.k = term::kind::tuple;
                    values_into(t.items);
                    expect_punct(')');
                    return t;
                }
                if (accept_punct('{')) {
                    if (accept_punct('}')) {
                        t.k = term::kind::map;  // {} is an empty map or set
                        return t;
                    }
                    // UDT literal {field: v} has identifier keys.
                    bool udt = (_cur.kind == tok::word || _cur.kind == tok::quoted);
                    term first;
                    if (udt) {
                        first.k = term::kind::string;
                        first.text = identifier();
                    } else {
                        first = value();
                    }
                    if (accept_punct(':')) {
                        t.k = term::kind::map;
                        t.items.push_back(std::move(first));
                        t.items.push_back(value());
                        while (accept_punct(',')) {
                            if (udt) {
                                term k;
                                k.k = term::kind::string;
                                k.text = identifier();
                                t.items.push_back(std::move(k));
                            } else {
                                t.items.push_back(value());
                            }
                            expect_punct(':');
                            t.items.push_back(value());
                        }
                        if (udt) t.marker_name = "udt";  // remembered: keys are field names
                    } else {
                        t.k = term::kind::set;
                        t.items.push_back(std::move(first));
                        while (accept_punct(',')) t.items.push_back(value());
                    }
                    expect_punct('}');
                    return t;
                }
                break;
            }
            default:
                break;
        }
        fail("no viable alternative, expecting a value");
    }

    // value (',' value)*
    void values_into(std::vector<term>& out) {
        do {
            out.push_back(value());
        } while (accept_punct(','));
    }

    relation::op comparison() {
        if (accept_punct('=')) return relation::op::eq;
        if (accept_punct('<')) return accept_punct('=') ? relation::op::le : relation::op::lt;
        if (accept_punct('>')) return accept_punct('=') ? relation::op::ge : relation::op::gt;
        if (accept_punct('!')) {
            expect_punct('=');
            return relation::op::ne;
        }
        if (accept("in")) return relation::op::in;
        if (accept("contains")) return accept("key") ? relation::op::contains_key : relation::op::contains;
        fail("no viable alternative, expecting an operator");
    }

    void relation_values(relation& r) {
        if (r.o == relation::op::in) {
            if (_cur.kind == tok::marker || is_punct(':')) {
                r.values.push_back(value());
                return;
            }
            expect_punct('(');
            if (!is_punct(')')) {
                values_into(r.values);
            }
            expect_punct(')');
            return;
        }
        r.values.push_back(value());
    }

    std::vector<relation> where_clause() {
        std::vector<relation> out;
        do {
            relation r;
            if (is_word("token")) {
                advance();
                expect_punct('(');
                do {
                    r.columns.push_back(identifier());
                } while (accept_punct(','));
                expect_punct(')');
                r.token = true;
                r.o = comparison();
                r.values.push_back(value());
            } else if (accept_punct('(')) {
                do {
                    r.columns.push_back(identifier());
                } while (accept_punct(','));
                expect_punct(')');
                r.o = comparison();
                relation_values(r);
            } else {
                r.columns.push_back(identifier());
                r.o = comparison();
                relation_values(r);
            }
            out.push_back(std::move(r));
        } while (accept("and"));
        return out;
    }

    std::vector<relation> conditions() {
        std::vector<relation> out;
        do {
            relation r;
            r.columns.push_back(identifier());
            r.o = comparison();
            relation_values(r);
            out.push_back(std::move(r));
        } while (accept("and"));
        return out;
    }

    void using_opts(using_clause& u) {
        if (!accept("using")) return;
        do {
            if (accept("ttl")) {
                u.ttl = value();
            } else if (accept("timestamp")) {
                u.timestamp = value();
            } else {
                fail("expecting TTL or TIMESTAMP");
            }
        } while (accept("and"));
    }

    // WHERE relations, then IF EXISTS or IF conditions (UPDATE and DELETE).
    void where_and_conditions(std::vector<relation>& where, bool& if_exists, std::vector<relation>& conds) {
        expect("where");
        where = where_clause();
        if (accept("if")) {
            if (accept("exists")) {
                if_exists = true;
            } else {
                conds = conditions();
            }
        }
    }

    insert parse_insert() {
        insert s;
        expect("into");
        qualified(s.keyspace, s.table);
        if (accept("json")) {
            s.json = value();
        } else {
            expect_punct('(');
            do {
                s.columns.push_back(identifier());
            } while (accept_punct(','));
            expect_punct(')');
            expect("values");
            expect_punct('(');
            values_into(s.values);
            expect_punct(')');
            if (s.columns.size() != s.values.size()) fail("Unmatched column names/values");
        }
        s.if_not_exists = if_not_exists();
        using_opts(s.u);
        if (!s.if_not_exists) s.if_not_exists = if_not_exists();
        return s;
    }

    update parse_update() {
        update s;
        qualified(s.keyspace, s.table);
        using_opts(s.u);
        expect("set");
        do {
            assignment a;
            a.column = identifier();
            if (accept_punct('[')) {
                a.element = value();
                expect_punct(']');
                expect_punct('=');
                a.o = assignment::op::set_element;
                a.value = value();
            } else {
                expect_punct('=');
                // c = c + x, c = c - x, c = x + c (prepend), c = x
                if (names_column(a.column)) {
                    advance();
                    if (accept_punct('+')) {
                        a.o = assignment::op::add;
                    } else if (accept_punct('-')) {
                        a.o = assignment::op::subtract;
                    } else {
                        fail("expecting + or - after the column");
                    }
                    a.value = value();
                } else {
                    a.value = value();
                    if (accept_punct('+')) {
                        std::string col = identifier();
                        if (col != a.column) fail("only the assigned column may follow +");
                        a.o = assignment::op::prepend;
                    }
                }
            }
            s.set.push_back(std::move(a));
        } while (accept_punct(','));
        where_and_conditions(s.where, s.if_exists, s.conditions);
        return s;
    }

    delete_ parse_delete() {
        delete_ s;
        while (!is_word("from") && !is_word("using")) {
            s.columns.push_back(identifier());
            if (is_punct('[')) fail("cqlsim does not support deleting collection elements");
            if (!accept_punct(',')) break;
        }
        expect("from");
        qualified(s.keyspace, s.table);
        using_opts(s.u);
        where_and_conditions(s.where, s.if_exists, s.conditions);
        return s;
    }

    select parse_select() {
        select s;
        if (accept("json")) s.json = true;
        if (accept("distinct")) s.distinct = true;
        do {
            selector sel;
            if (accept_punct('*')) {
                sel.k = selector::kind::star;
            } else {
                std::string name = identifier();
                if (accept_punct('(')) {
                    if (name == "count") {
                        sel.k = selector::kind::count;
                        if (!accept_punct('*')) value();
                    } else if (name == "writetime" || name == "ttl") {
                        sel.k = name == "ttl" ? selector::kind::ttl : selector::kind::writetime;
                        sel.column = identifier();
                    } else {
                        sel.k = selector::kind::function;
                        sel.column = name;
                        if (!is_punct(')')) {
                            do {
                                sel.args.push_back(identifier());
                            } while (accept_punct(','));
                        }
                    }
                    expect_punct(')');
                } else {
                    sel.column = name;
                }
            }
            if (accept("as")) sel.alias = identifier();
            s.selectors.push_back(std::move(sel));
        } while (accept_punct(','));
        expect("from");
        qualified(s.keyspace, s.table);
        if (accept("where")) s.where = where_clause();
        if (accept("order")) {
            expect("by");
            do {
                std::string col = identifier();
                bool desc = false;
                if (accept("desc")) {
                    desc = true;
                } else {
                    accept("asc");
                }
                s.order_by.emplace_back(col, desc);
            } while (accept_punct(','));
        }
        if (accept("per")) {
            expect("partition");
            expect("limit");
            s.per_partition_limit = value();
        }
        if (accept("limit")) s.limit = value();
        if (accept("allow")) {
            expect("filtering");
            s.allow_filtering = true;
        }
        return s;
    }

    std::vector<std::pair<std::string, std::string>> string_map() {
        std::vector<std::pair<std::string, std::string>> out;
        expect_punct('{');
        if (!is_punct('}')) {
            do {
                term k = value();
                expect_punct(':');
                term v = value();
                out.emplace_back(k.text, v.text);
            } while (accept_punct(','));
        }
        expect_punct('}');
        return out;
    }

    // WITH options we accept and mostly ignore (compaction, comment, ...).
    void table_options(create_table* t) {
        do {
            if (accept("clustering")) {
                expect("order");
                expect("by");
                expect_punct('(');
                do {
                    std::string col = identifier();
                    bool desc = accept("desc");
                    if (!desc) accept("asc");
                    if (t) t->clustering_order.emplace_back(col, desc);
                } while (accept_punct(','));
                expect_punct(')');
            } else if (accept("compact")) {
                expect("storage");
            } else {
                identifier();
                expect_punct('=');
                if (is_punct('{')) {
                    string_map();
                } else {
                    value();
                }
            }
        } while (accept("and"));
    }

    create_table parse_create_table() {
        create_table t;
        t.if_not_exists = if_not_exists();
        qualified(t.keyspace, t.name);
        expect_punct('(');
        do {
            if (accept("primary")) {
                expect("key");
                expect_punct('(');
                if (accept_punct('(')) {
                    do {
                        t.partition_key.push_back(identifier());
                    } while (accept_punct(','));
                    expect_punct(')');
                } else {
                    t.partition_key.push_back(identifier());
                }
                while (accept_punct(',')) t.clustering_key.push_back(identifier());
                expect_punct(')');
                continue;
            }
            column_def c;
            c.name = identifier();
            c.type = type();
            if (accept("static")) c.is_static = true;
            if (accept("primary")) {
                expect("key");
                if (!t.partition_key.empty()) fail("Multiple PRIMARY KEYs specified");
                t.partition_key.push_back(c.name);
            }
            t.columns.push_back(std::move(c));
        } while (accept_punct(','));
        expect_punct(')');
        if (accept("with")) table_options(&t);
        if (t.partition_key.empty()) fail("No PRIMARY KEY specified");
        return t;
    }

    void parse(statement& st) {
        if (accept("select")) {
            st.s = parse_select();
        } else if (accept("insert")) {
            st.s = parse_insert();
        } else if (accept("update")) {
            st.s = parse_update();
        } else if (accept("delete")) {
            st.s = parse_delete();
        } else if (accept("begin")) {
            batch b;
            if (accept("unlogged")) {
                b.type = 1;
            } else if (accept("counter")) {
                b.type = 2;
            } else {
                accept("logged");
            }
            expect("batch");
            using_opts(b.u);
            for (;;) {
                while (accept_punct(';')) {
                }
                if (accept("apply")) {
                    expect("batch");
                    break;
                }
                if (accept("insert")) {
                    b.statements.emplace_back(parse_insert());
                } else if (accept("update")) {
                    b.statements.emplace_back(parse_update());
                } else if (accept("delete")) {
                    b.statements.emplace_back(parse_delete());
                } else {
                    fail("expecting INSERT, UPDATE, DELETE or APPLY BATCH");
                }
            }
            st.s = std::move(b);
        } else if (accept("use")) {
            st.s = use_keyspace{identifier()};
        } else if (accept("truncate")) {
            accept("table");
            truncate_table t;
            qualified(t.keyspace, t.name);
            st.s = t;
        } else if (accept("create")) {
            if (accept("keyspace") || accept("schema")) {
                create_keyspace k;
                k.if_not_exists = if_not_exists();
                k.name = identifier();
                expect("with");
                do {
                    if (accept("replication")) {
                        expect_punct('=');
                        k.replication = string_map();
                    } else if (accept("durable_writes")) {
                        expect_punct('=');
                        k.durable_writes = value().text == "true";
                    } else {
                        fail("unknown keyspace property");
                    }
                } while (accept("and"));
                st.s = std::move(k);
            } else if (accept("table") || accept("columnfamily")) {
                st.s = parse_create_table();
            } else if (accept("type")) {
                create_type t;
                t.if_not_exists = if_not_exists();
                qualified(t.keyspace, t.name);
                expect_punct('(');
                do {
                    std::string f = identifier();
                    t.fields.emplace_back(f, type());
                } while (accept_punct(','));
                expect_punct(')');
                st.s = std::move(t);
            } else {
                fail("cqlsim supports CREATE KEYSPACE, TABLE and TYPE");
            }
        } else if (accept("drop")) {
            drop d;
            if (accept("keyspace")) {
                d.w = drop::what::keyspace;
                d.if_exists = if_exists();
                d.name = identifier();
            } else if (accept("table") || accept("columnfamily")) {
                d.w = drop::what::table;
                d.if_exists = if_exists();
                qualified(d.keyspace, d.name);
            } else if (accept("type")) {
                d.w = drop::what::type;
                d.if_exists = if_exists();
                qualified(d.keyspace, d.name);
            } else {
                fail("cqlsim supports DROP KEYSPACE, TABLE and TYPE");
            }
            st.s = d;
        } else if (accept("alter")) {
            expect("table");
            alter_table a;
            qualified(a.keyspace, a.name);
            if (accept("add")) {
                bool paren = accept_punct('(');
                do {
                    column_def c;
                    c.name = identifier();
                    c.type = type();
                    if (accept("static")) c.is_static = true;
                    a.add.push_back(std::move(c));
                } while (accept_punct(','));
                if (paren) expect_punct(')');
            } else if (accept("drop")) {
                bool paren = accept_punct('(');
                do {
                    a.drop.push_back(identifier());
                } while (accept_punct(','));
                if (paren) expect_punct(')');
            } else if (accept("with")) {
                table_options(nullptr);
                a.with_only = true;
            } else {
                fail("expecting ADD, DROP or WITH");
            }
            st.s = std::move(a);
        } else {
            fail("no viable alternative at input");
        }
        while (accept_punct(';')) {
        }
        if (_cur.kind != tok::end) fail("extraneous input");
    }
};

}  // namespace

std::variant<statement, parse_error> parse_statement(std::string_view text) {
    statement st;
    try {
        parser p(text, st);
        p.parse(st);
    } catch (const failure& f) {
        return parse_error{f.message};
    }
    return st;
}

}  // namespace tandem::cqlsim
