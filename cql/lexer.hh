#pragma once
// The CQL lexer shared by the statement classifier and cqlsim's statement parser: comments
// (--, //, /* */), quoted identifiers ("a""b"), string literals ('it''s'), $$ strings $$,
// numbers, UUIDs, blobs, durations and bind markers, in any letter case. Tokens are offsets into
// the text; nothing is copied or allocated.

#include <array>
#include <cstdint>
#include <string_view>

namespace tandem::cql::lex {

enum class tok : uint32_t {
    end,
    error,
    word,         // unquoted identifier or keyword
    quoted,       // "quoted identifier"
    string,       // 'string' or $$string$$
    number,       // numbers, UUIDs, blobs, durations
    punct,        // one character: ( ) , ; . * = < > [ ] { } + - etc.
    marker,       // ?
    named_marker, // :name
};

// Four aligned 32-bit fields. A token passes through registers and the stack on every step;
// with byte-sized fields GCC assembles it from narrow stores and reloads it with wider loads,
// which stalls store forwarding once or twice per token (measured: over half of classify()).
struct token {
    uint32_t begin = 0;
    uint32_t end = 0;
    tok kind = tok::end;
    uint32_t ch = 0;  // punct: the character

    constexpr token() = default;
    constexpr token(tok k, uint32_t b, uint32_t e, char c)
        : begin(b), end(e), kind(k), ch(static_cast<unsigned char>(c)) {}
};

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }
inline bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
inline bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Case-insensitive compare with a lower-case keyword.
inline bool word_is(std::string_view w, std::string_view kw) {
    if (w.size() != kw.size()) return false;
    for (size_t i = 0; i < w.size(); ++i) {
        if (lower(w[i]) != kw[i]) return false;
    }
    return true;
}

// Character classes for the fast scanner.
enum cc : uint8_t {
    cc_other,
    cc_space,
    cc_ident,  // letter or underscore
    cc_digit,
    cc_quote,   // '
    cc_dquote,  // "
    cc_punct,
    cc_open,    // (
    cc_close,   // )
    cc_lsq,     // [
    cc_rsq,     // ]
    cc_lbrace,  // {
    cc_rbrace,  // }
    cc_qmark,   // ?
    cc_colon,   // :
    cc_minus,   // -
    cc_slash,   // /
    cc_dollar,  // $
    cc_dot,     // .
};

constexpr std::array<uint8_t, 256> make_classes() {
    std::array<uint8_t, 256> t{};
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = cc_ident;
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = cc_ident;
    t['_'] = cc_ident;
    for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = cc_digit;
    for (char c : {' ', '\t', '\n', '\r', '\f'}) t[static_cast<unsigned char>(c)] = cc_space;
    for (char c : {',', ';', '*', '=', '<', '>', '+', '!', '%', '&', '|', '^', '~', '@'}) {
        t[static_cast<unsigned char>(c)] = cc_punct;
    }
    t['\''] = cc_quote;
    t['"'] = cc_dquote;
    t['('] = cc_open;
    t[')'] = cc_close;
    t['['] = cc_lsq;
    t[']'] = cc_rsq;
    t['{'] = cc_lbrace;
    t['}'] = cc_rbrace;
    t['?'] = cc_qmark;
    t[':'] = cc_colon;
    t['-'] = cc_minus;
    t['/'] = cc_slash;
    t['$'] = cc_dollar;
    t['.'] = cc_dot;
    return t;
}
constexpr std::array<uint8_t, 256> classes = make_classes();
inline uint8_t class_of(char c) { return classes[static_cast<unsigned char>(c)]; }
// Letters, digits and underscore: one compare, as cc_ident and cc_digit are adjacent.
inline bool is_word_class(char c) { return static_cast<uint8_t>(class_of(c) - cc_ident) <= cc_digit - cc_ident; }

// Hex digits per group of a UUID literal (8-4-4-4-12).
constexpr int uuid_groups[] = {8, 4, 4, 4, 12};

class lexer {
    std::string_view _s;
    uint32_t _i = 0;

public:
    std::string_view problem;
    uint32_t problem_offset = 0;

    explicit lexer(std::string_view s, uint32_t start = 0) : _s(s), _i(start) {}
    std::string_view text(const token& t) const { return _s.substr(t.begin, t.end - t.begin); }
    uint32_t offset() const { return _i; }
    std::string_view source() const { return _s; }
    void seek(uint32_t at) { _i = at; }

    token fail(std::string_view why, uint32_t at) {
        problem = why;
        problem_offset = at;
        _i = static_cast<uint32_t>(_s.size());
        return token{tok::error, at, at, 0};
    }

    // A UUID literal: 8-4-4-4-12 hex digits.
    bool uuid_at(uint32_t at) const {
        uint32_t p = at;
        for (int g = 0; g < 5; ++g) {
            for (int k = 0; k < uuid_groups[g]; ++k, ++p) {
                if (p >= _s.size() || !is_hex(_s[p])) return false;
            }
            if (g < 4) {
                if (p >= _s.size() || _s[p] != '-') return false;
                ++p;
            }
        }
        return p >= _s.size() || !is_ident_char(_s[p]);
    }

    token next() {
        const uint32_t n = static_cast<uint32_t>(_s.size());
        for (;;) {
            while (_i < n && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\n' || _s[_i] == '\r' || _s[_i] == '\f')) ++_i;
            if (_i >= n) return token{tok::end, n, n, 0};
            char c = _s[_i];
            char d = _i + 1 < n ? _s[_i + 1] : '\0';
            if ((c == '-' && d == '-') || (c == '/' && d == '/')) {
                while (_i < n && _s[_i] != '\n') ++_i;
                continue;
            }
            if (c == '/' && d == '*') {
                uint32_t start = _i;
                _i += 2;
                for (;;) {
                    if (_i + 1 >= n) return fail("unterminated /* comment", start);
                    if (_s[_i] == '*' && _s[_i + 1] == '/') break;
                    ++_i;
                }
                _i += 2;
                continue;
            }
            break;
        }
        uint32_t start = _i;
        char c = _s[_i];
        // Numbers and UUIDs first: a UUID may start with letters a-f too, checked below.
        if (is_digit(c) || (c == '.' && _i + 1 < n && is_digit(_s[_i + 1]))) {
            if (uuid_at(_i)) {
                _i += 36;
                return token{tok::number, start, _i, 0};
            }
            // digits, letters (hex blobs 0x.., exponents, durations 1h30m), '.', and a sign
            // right after an exponent.
            ++_i;
            while (_i < n) {
                char e = _s[_i];
                if (is_ident_char(e) || e == '.') {
                    ++_i;
                } else if ((e == '+' || e == '-') && (lower(_s[_i - 1]) == 'e') && _i + 1 < n && is_digit(_s[_i + 1]) &&
                           !(start + 1 < n && lower(_s[start + 1]) == 'x')) {
                    ++_i;
                } else {
                    break;
                }
            }
            return token{tok::number, start, _i, 0};
        }
        if (is_ident_start(c)) {
            if (is_hex(c) && uuid_at(_i)) {
                _i += 36;
                return token{tok::number, start, _i, 0};
            }
            ++_i;
            while (_i < n && is_ident_char(_s[_i])) ++_i;
            return token{tok::word, start, _i, 0};
        }
        if (c == '"' || c == '\'') {
            ++_i;
            for (;;) {
                if (_i >= n) return fail(c == '"' ? "unterminated quoted identifier" : "unterminated string literal", start);
                if (_s[_i] == c) {
                    if (_i + 1 < n && _s[_i + 1] == c) {
                        _i += 2;
                        continue;
                    }
                    break;
                }
                ++_i;
            }
            ++_i;
            if (c == '"' && _i - start == 2) return fail("empty quoted identifier", start);
            return token{c == '"' ? tok::quoted : tok::string, start, _i, 0};
        }
        if (c == '$' && _i + 1 < n && _s[_i + 1] == '$') {
            auto close = _s.find("$$", _i + 2);
            if (close == std::string_view::npos) return fail("unterminated $$ string", start);
            _i = static_cast<uint32_t>(close + 2);
            return token{tok::string, start, _i, 0};
        }
        if (c == '?') {
            ++_i;
            return token{tok::marker, start, _i, 0};
        }
        if (c == ':' && _i + 1 < n && (is_ident_start(_s[_i + 1]) || _s[_i + 1] == '"')) {
            // Decided by the caller (a map literal separator looks the same); lex the name.
            return token{tok::punct, start, ++_i, ':'};
        }
        if (class_of(c) >= cc_punct) {
            ++_i;
            return token{tok::punct, start, _i, c};
        }
        return fail("unexpected character", start);
    }
};


}  // namespace tandem::cql::lex
