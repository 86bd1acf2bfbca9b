// The write journal's record reader (core/journal.hh): what start-up reads back from disk after
// a crash. Never crashes, never reads past the input; a record it accepts encodes back to the
// same bytes; when it stops early it says why and where the good part ends.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/journal.hh"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    tandem::core::journal_reader rd(in);
    tandem::core::journal_record r;
    size_t before = 0;
    while (rd.next(r)) {
        std::string again;
        tandem::core::encode_journal_record(r, again);
        if (in.substr(before, rd.offset() - before) != again) std::abort();
        before = rd.offset();
    }
    if (rd.offset() > size || rd.offset() != before) std::abort();
    if (rd.offset() < size && (!rd.torn() || rd.problem().empty())) std::abort();
    return 0;
}
