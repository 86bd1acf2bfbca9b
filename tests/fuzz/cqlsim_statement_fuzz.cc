// cqlsim's statement parser over arbitrary text: it returns a statement or an error, never
// crashes, and an error message always names a position.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tools/cqlsim/statement.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto r = tandem::cqlsim::parse_statement(text);
    if (auto* e = std::get_if<tandem::cqlsim::parse_error>(&r)) {
        if (e->message.rfind("line ", 0) != 0) std::abort();
    }
    return 0;
}
