#include "copy/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "copy/engine.h"
#include "memory_endpoints.h"

namespace v2r {
namespace {

using testing::MakeData;
using testing::MemorySource;

constexpr uint64_t MiB = 1 << 20;

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/v2r-file-sink-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/disk.raw";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  // A file of `size` bytes, every byte `fill` (allocated: the old content).
  void MakeFile(uint64_t size, unsigned char fill) {
    std::ofstream f(path_, std::ios::binary);
    std::vector<char> buf(size, static_cast<char>(fill));
    f.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
  std::vector<unsigned char> ReadFile() {
    std::ifstream f(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  }
  uint64_t Allocated() {
    struct stat st {};
    EXPECT_EQ(::stat(path_.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }
  std::string dir_, path_;
};

// The copy-back: chunks marked done keep the file's content, the others get
// the source's, and the source's zeros become holes in the file.
TEST_F(FileSinkTest, EngineCopiesOnlyChunksNotDoneAndPunchesZeros) {
  const uint64_t size = 12 * MiB;
  auto data = MakeData(size, {{0, 1 * MiB, false}, {8 * MiB, 1 * MiB, false}});  // data, rest zero
  MemorySource src(data);
  MakeFile(size, 0xAB);
  auto sink = FileSink::Open(path_, 4 * MiB);
  ASSERT_TRUE(sink.ok()) << sink.status().message();
  CopyOptions opts;
  opts.target_fresh = false;
  opts.readers = 2;
  ASSERT_TRUE(ResolveCopyOptions(src, **sink, &opts).ok());
  ASSERT_EQ(opts.chunk_size, 4 * MiB);
  std::vector<bool> done = {false, true, false};  // chunk 1 unchanged
  opts.done_chunks = &done;
  auto r = CopyDisk(src, **sink, opts, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->bytes_written, 2 * MiB);
  EXPECT_EQ(r->bytes_resumed, 4 * MiB);
  auto got = ReadFile();
  ASSERT_EQ(got.size(), size);
  EXPECT_TRUE(std::equal(got.begin(), got.begin() + 4 * MiB, data.begin()));
  EXPECT_TRUE(std::all_of(got.begin() + 4 * MiB, got.begin() + 8 * MiB, [](unsigned char c) { return c == 0xAB; }));
  EXPECT_TRUE(std::equal(got.begin() + 8 * MiB, got.end(), data.begin() + 8 * MiB));
  // 6 MiB of zeros in the copied chunks were punched, not written.
  EXPECT_LE(Allocated(), 6 * MiB + 64 * 1024);
}

TEST_F(FileSinkTest, RefusesWhatIsNotAWritableDisk) {
  auto missing = FileSink::Open(path_, 4 * MiB);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().kind(), Kind::kRefused);
  EXPECT_NE(missing.status().message().find(path_), std::string::npos);
  auto dir = FileSink::Open(dir_, 4 * MiB);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().kind(), Kind::kRefused);
}

TEST_F(FileSinkTest, WritesBeyondTheEndAreABugNotAGrowth) {
  MakeFile(1 * MiB, 0);
  auto sink = FileSink::Open(path_, 4 * MiB);
  ASSERT_TRUE(sink.ok());
  std::vector<char> buf(4096, 'x');
  Status got;
  (*sink)->Write(1 * MiB - 100, buf.data(), buf.size(), [&](Status s) { got = s; });
  EXPECT_EQ(got.kind(), Kind::kInternal);
  (*sink)->WriteZeroes(1 * MiB, 4096, [&](Status s) { got = s; });
  EXPECT_EQ(got.kind(), Kind::kInternal);
  EXPECT_EQ(ReadFile().size(), 1 * MiB);
}

}  // namespace
}  // namespace v2r
