#include "core/journal.hh"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

namespace tandem::core {
namespace {

namespace fs = std::filesystem;

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tandem-journal-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~temp_dir() { fs::remove_all(path); }
};

journal_record sample(int i, cluster_role owed = cluster_role::target) {
    journal_record r;
    r.owed = owed;
    r.version = 4;
    r.op = i % 2 ? cql::opcode::execute : cql::opcode::query;
    r.keyspace = "ks";
    if (i % 2) r.prepared.push_back({"id-" + std::to_string(i), "INSERT INTO t (k, v) VALUES (?, ?)", "ks"});
    r.message = "message " + std::to_string(i);
    return r;
}

std::string framed(const journal_record& r) {
    std::string out;
    encode_journal_record(r, out);
    return out;
}

// Appends `r` to `j` for listener `l`.
uint64_t add(write_journal& j, const journal_record& r, size_t l = 0) { return j.append(l, r.owed, framed(r)); }

std::vector<std::string> segments_in(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(dir)) {
        if (e.path().filename().string().rfind("segment-", 0) == 0) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST(journal, a_record_reads_back_as_written) {
    auto r = sample(1, cluster_role::origin);
    std::string b = framed(r) + framed(sample(2));
    journal_reader rd(b);
    journal_record got;
    ASSERT_TRUE(rd.next(got));
    EXPECT_EQ(got.owed, cluster_role::origin);
    EXPECT_EQ(got.op, cql::opcode::execute);
    EXPECT_EQ(got.keyspace, "ks");
    ASSERT_EQ(got.prepared.size(), 1u);
    EXPECT_EQ(got.prepared[0].id, "id-1");
    EXPECT_EQ(got.prepared[0].query, "INSERT INTO t (k, v) VALUES (?, ?)");
    EXPECT_EQ(got.message, "message 1");
    ASSERT_TRUE(rd.next(got));
    EXPECT_EQ(got.message, "message 2");
    EXPECT_FALSE(rd.next(got));
    EXPECT_FALSE(rd.torn());
    EXPECT_EQ(rd.offset(), b.size());
}

TEST(journal, a_flipped_bit_or_a_cut_record_stops_the_reader) {
    std::string one = framed(sample(1));
    for (size_t cut = 1; cut < one.size(); ++cut) {
        journal_reader rd(std::string_view(one).substr(0, cut));
        journal_record r;
        EXPECT_FALSE(rd.next(r)) << cut;
        EXPECT_TRUE(rd.torn()) << cut;
        EXPECT_EQ(rd.offset(), 0u);
    }
    std::string two = framed(sample(2)) + one;
    two[two.size() - 3] ^= 0x10;
    journal_reader rd(two);
    journal_record r;
    EXPECT_TRUE(rd.next(r));
    EXPECT_FALSE(rd.next(r));
    EXPECT_EQ(rd.problem(), "a record whose checksum does not match");
    EXPECT_EQ(rd.offset(), framed(sample(2)).size());
}

TEST(journal, appends_become_durable_and_listeners_hear_it) {
    temp_dir d;
    write_journal j({d.path, 1 << 20, 0, 0});
    std::atomic<uint64_t> heard{0};
    size_t l = j.add_listener([&](uint64_t upto) { heard = upto; });
    uint64_t a = add(j, sample(0), l);
    uint64_t b = add(j, sample(1), l);
    EXPECT_EQ(a, 1u);
    EXPECT_EQ(b, 2u);
    j.flush();
    EXPECT_TRUE(j.durable(b));
    for (int i = 0; i < 200 && heard.load() < b; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_GE(heard.load(), b);
    auto c = j.counts();
    EXPECT_EQ(c.appended, 2u);
    EXPECT_EQ(c.pending_records, 2u);
    ASSERT_EQ(segments_in(d.path).size(), 1u);
    EXPECT_EQ(fs::file_size(segments_in(d.path)[0]), journal_header_size + framed(sample(0)).size() + framed(sample(1)).size());
}

TEST(journal, released_segments_are_deleted_and_a_clean_stop_leaves_nothing) {
    temp_dir d;
    {
        write_journal j({d.path, 1 << 20, 0, 200});  // segments of 200 bytes: a few records each
        std::vector<uint64_t> ids;
        for (int i = 0; i < 20; ++i) ids.push_back(add(j, sample(i)));
        j.flush();
        EXPECT_GT(segments_in(d.path).size(), 3u);
        for (auto id : ids) j.settle(id, true);
        add(j, sample(99));  // a sync: the sealed, released segments go
        j.flush();
        for (int i = 0; i < 100 && segments_in(d.path).size() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        EXPECT_EQ(segments_in(d.path).size(), 1u);
        EXPECT_EQ(j.counts().pending_records, 1u);
        j.settle(21, true);
    }
    EXPECT_TRUE(segments_in(d.path).empty());
}

TEST(journal, kept_records_go_to_the_replayer_in_order_by_cluster) {
    temp_dir d;
    write_journal j({d.path, 1 << 20, 0, 0});
    // ids 1..6; id 4 is owed to origin, the others to target.
    for (int i = 0; i < 6; ++i) add(j, sample(i, i == 3 ? cluster_role::origin : cluster_role::target));
    j.flush();
    EXPECT_TRUE(j.take_kept(cluster_role::target, 10).empty()) << "in flight: not the replayer's yet";
    for (uint64_t id : {5, 2, 4, 6}) j.settle(id, false);
    j.settle(1, true);
    EXPECT_EQ(j.kept(cluster_role::target), 3u);
    auto got = j.take_kept(cluster_role::target, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].first, 2u);
    EXPECT_EQ(got[1].first, 5u);
    EXPECT_EQ(got[0].second.message, "message 1");
    j.settle(3, false);  // settled late, behind the cursor
    auto rest = j.take_kept(cluster_role::target, 10);
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(rest[0].first, 3u);
    EXPECT_EQ(rest[1].first, 6u);
    EXPECT_TRUE(j.take_kept(cluster_role::target, 10).empty()) << "handed out once";
    j.replayed(2, true);
    j.replayed(5, false);  // kept again: found again
    auto again = j.take_kept(cluster_role::target, 10);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].first, 5u);
    auto origin = j.take_kept(cluster_role::origin, 10);
    ASSERT_EQ(origin.size(), 1u);
    EXPECT_EQ(origin[0].first, 4u);
    EXPECT_EQ(j.counts().replayed, 1u);
    EXPECT_EQ(j.counts().replay_failures, 1u);
}

TEST(journal, a_restart_finds_every_unreleased_record) {
    temp_dir d;
    {
        write_journal j({d.path, 1 << 20, 0, 300});
        for (int i = 0; i < 10; ++i) add(j, sample(i));
        j.flush();
        j.settle(1, true);
    }
    write_journal j({d.path, 1 << 20, 0, 300});
    EXPECT_EQ(j.counts().recovered, 10u) << "releases are not persisted: replaying a write again is harmless";
    auto got = j.take_kept(cluster_role::target, 100);
    ASSERT_EQ(got.size(), 10u);
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].first, i + 1);
        EXPECT_EQ(got[i].second.message, "message " + std::to_string(i));
    }
    EXPECT_EQ(add(j, sample(50)), 11u) << "ids go on after the recovered ones";
}

TEST(journal, a_torn_tail_is_cut_at_start_up) {
    temp_dir d;
    {
        write_journal j({d.path, 1 << 20, 0, 0});
        for (int i = 0; i < 3; ++i) add(j, sample(i));
        j.flush();
    }
    auto seg = segments_in(d.path).at(0);
    const auto good = fs::file_size(seg);
    {
        std::string half = framed(sample(7));
        std::ofstream f(seg, std::ios::app | std::ios::binary);
        f.write(half.data(), static_cast<std::streamsize>(half.size() / 2));
    }
    write_journal j({d.path, 1 << 20, 0, 0});
    EXPECT_EQ(j.counts().recovered, 3u);
    EXPECT_EQ(fs::file_size(seg), good) << "the half record is cut off";
    EXPECT_EQ(j.take_kept(cluster_role::target, 10).size(), 3u);
}

TEST(journal, a_foreign_file_stops_start_up) {
    temp_dir d;
    std::ofstream(d.path + "/segment-00000000000000000001.journal") << "not a journal at all";
    EXPECT_THROW(write_journal({d.path, 1 << 20, 0, 0}), std::runtime_error);
}

TEST(journal, a_full_journal_refuses_appends) {
    temp_dir d;
    write_journal j({d.path, 1 << 20, 0, 64 << 10});
    std::string big(100 << 10, 'x');
    journal_record r = sample(0);
    r.message = big;
    int accepted = 0;
    for (int i = 0; i < 20; ++i) accepted += add(j, r) != 0;
    EXPECT_LT(accepted, 11);
    EXPECT_GT(accepted, 5);
    EXPECT_EQ(j.counts().full, static_cast<uint64_t>(20 - accepted));
    j.flush();
    EXPECT_LE(j.counts().pending_bytes, uint64_t{1} << 20);
}

TEST(journal, one_directory_one_tandem) {
    temp_dir d;
    write_journal a({d.path, 1 << 20, 0, 0});
    try {
        write_journal b({d.path, 1 << 20, 0, 0});
        FAIL() << "a second journal opened the same directory";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("in use by another tandem"), std::string::npos) << e.what();
    }
}

TEST(journal, rejected_records_are_kept_for_the_operator) {
    temp_dir d;
    write_journal j({d.path, 1 << 20, 0, 0});
    uint64_t id = add(j, sample(3));
    j.flush();
    j.settle(id, false);
    auto got = j.take_kept(cluster_role::target, 1);
    ASSERT_EQ(got.size(), 1u);
    j.replayed(id, false, true, &got[0].second);
    EXPECT_EQ(j.counts().rejected, 1u);
    EXPECT_EQ(j.counts().pending_records, 0u);
    std::ifstream f(d.path + "/rejected.journal", std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), {});
    ASSERT_GT(data.size(), journal_header_size);
    journal_reader rd(std::string_view(data).substr(journal_header_size));
    journal_record r;
    ASSERT_TRUE(rd.next(r));
    EXPECT_EQ(r.message, "message 3");
}

TEST(journal, group_commit_takes_many_records_per_sync) {
    temp_dir d;
    write_journal j({d.path, 64 << 20, 2, 0});
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; ++t) {
        ts.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) ASSERT_NE(add(j, sample(i)), 0u);
        });
    }
    for (auto& t : ts) t.join();
    j.flush();
    auto c = j.counts();
    EXPECT_EQ(c.appended, 4000u);
    EXPECT_LT(c.syncs, 1000u) << "one fdatasync per record would be " << c.appended;
}

TEST(journal, replayable_writes) {
    auto replayable = [](const char* q) { return journal_replayable(q, cql::classify(q)); };
    EXPECT_TRUE(replayable("INSERT INTO ks.t (k, v) VALUES (1, 'a')"));
    EXPECT_TRUE(replayable("UPDATE t SET v = 'v', s = s WHERE k = 1") == false) << "s = s reads s";
    EXPECT_TRUE(replayable("UPDATE t SET v = ?, m['x'] = 3 WHERE k = ?"));
    EXPECT_TRUE(replayable("UPDATE t SET tags = tags + {'a'} WHERE k = 1") == false);
    EXPECT_TRUE(replayable("DELETE FROM t WHERE k = 1"));
    EXPECT_TRUE(replayable("BEGIN BATCH INSERT INTO t (k) VALUES (1); UPDATE t SET v = 2 WHERE k = 1; APPLY BATCH"));
    EXPECT_FALSE(replayable("UPDATE t SET c = c + 1 WHERE k = 1"));
    EXPECT_FALSE(replayable("UPDATE t SET \"C\" = \"C\" - ? WHERE k = ?"));
    EXPECT_FALSE(replayable("UPDATE t SET l = [1] + l WHERE k = 1"));
    EXPECT_FALSE(replayable("INSERT INTO t (k, v) VALUES (1, 2) IF NOT EXISTS"));
    EXPECT_FALSE(replayable("UPDATE t SET v = 2 WHERE k = 1 IF v = 1"));
    EXPECT_FALSE(replayable("BEGIN COUNTER BATCH UPDATE t SET c = c + 1 WHERE k = 1; APPLY BATCH"));
    EXPECT_FALSE(replayable("SELECT * FROM t"));
    EXPECT_FALSE(replayable("CREATE TABLE t (k int PRIMARY KEY)"));
    EXPECT_TRUE(replayable("UPDATE t SET v = 'c = c + 1' WHERE k = 1")) << "a string literal is not a column";
}

}  // namespace
}  // namespace tandem::core

namespace tandem::core {
namespace {

TEST(journal, the_fuzz_seeds_are_valid_records) {
    // The seeds are written by hand (tests/fuzz/corpus/journal_record): they must stay in the
    // format the reader reads, or fuzzing starts from nothing but rejections.
    std::ifstream f(std::string(TANDEM_FUZZ_CORPUS) + "/journal_record/two_records", std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), {});
    journal_reader rd(data);
    journal_record r;
    ASSERT_TRUE(rd.next(r)) << rd.problem();
    EXPECT_EQ(r.op, cql::opcode::query);
    ASSERT_TRUE(rd.next(r)) << rd.problem();
    EXPECT_EQ(r.op, cql::opcode::execute);
    EXPECT_EQ(r.prepared.at(0).query, "INSERT INTO t (k, v) VALUES (?, ?)");
    EXPECT_FALSE(rd.next(r));
    EXPECT_FALSE(rd.torn());
}

}  // namespace
}  // namespace tandem::core
