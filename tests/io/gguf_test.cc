// GGUF parsing and writing: a writer → reader round trip, and one clear error
// for each kind of malformed file (hand-built bytes).
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "io/gguf_writer.h"

namespace gpt2q {
namespace {

namespace fs = std::filesystem;

// Builds GGUF bytes field by field, so that each test can break one field.
class Bytes {
 public:
  template <typename T>
  Bytes& Put(T v) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    data.insert(data.end(), b, b + sizeof(T));
    return *this;
  }
  Bytes& Str(const std::string& s) {
    Put<uint64_t>(s.size());
    data.insert(data.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    data.insert(data.end(), {'G', 'G', 'U', 'F'});
    return Put(version).Put(n_tensors).Put(n_kv);
  }
  Bytes& KvU32(const std::string& key, uint32_t v) { return Str(key).Put<uint32_t>(4).Put(v); }
  Bytes& TensorInfo(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    Str(name).Put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) Put(d);
    return Put(type).Put(offset);
  }
  Bytes& PadTo(size_t align) {
    data.resize((data.size() + align - 1) / align * align, 0);
    return *this;
  }
  Bytes& Zeros(size_t n) {
    data.resize(data.size() + n, 0);
    return *this;
  }
  std::vector<uint8_t> data;
};

Result<std::shared_ptr<GgufFile>> Parse(const Bytes& b) {
  return GgufFile::FromBytes("t.gguf", b.data.data(), b.data.size(), nullptr);
}

// Expects parsing to fail with a message that contains every one of `parts`.
void ExpectError(const Bytes& b, std::initializer_list<const char*> parts) {
  auto file = Parse(b);
  ASSERT_FALSE(file.ok());
  for (const char* part : parts) {
    EXPECT_NE(file.message().find(part), std::string::npos) << "'" << part << "' not in: " << file.message();
  }
  EXPECT_EQ(file.message().rfind("t.gguf: ", 0), 0u) << file.message();
}

// One f32 tensor "a" [8] and one q8_0 tensor "b" [32, 2] (68 bytes).
Bytes ValidFile() {
  Bytes b;
  b.Header(2, 1).KvU32("general.alignment", 32);
  b.TensorInfo("a", {8}, 0, 0).TensorInfo("b", {32, 2}, 8, 32).PadTo(32);
  b.Zeros(32 + 68);
  return b;
}

TEST(Gguf, ParsesAValidFile) {
  auto file = Parse(ValidFile());
  ASSERT_TRUE(file.ok()) << file.message();
  ASSERT_EQ((*file)->tensors().size(), 2u);
  const GgufTensor* b = (*file)->FindTensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->nbytes, 68);
  EXPECT_EQ(b->numel(), 64);
  EXPECT_EQ(b->data - (*file)->tensors()[0].data, 32);
  EXPECT_EQ((*file)->alignment(), 32u);
  EXPECT_EQ((*file)->data_offset() % 32, 0u);
}

TEST(Gguf, WriterRoundTripsEveryValueKind) {
  const fs::path path = fs::temp_directory_path() / ("gguf_test_" + std::to_string(getpid()) + ".gguf");
  std::vector<uint8_t> q4(18 * 4);
  for (size_t i = 0; i < q4.size(); ++i) q4[i] = static_cast<uint8_t>(i * 7);
  const float f[3] = {1.5f, -2.f, 3.25f};
  GgufWriter w;
  w.AddString("general.architecture", "gpt2");
  w.AddU32("gpt2.block_count", 12);
  w.AddF32("eps", 1e-5f);
  w.AddBool("flag", true);
  w.AddStrings("tokens", {"a", "", "Ġthe"});
  w.AddI32s("types", {1, 3, -2});
  w.AddTensor("vec", {3}, kGgmlF32, f, sizeof(f));
  w.AddTensor("mat", {64, 2}, kGgmlQ4_0, q4.data(), static_cast<int64_t>(q4.size()));
  ASSERT_TRUE(w.Write(path.string()).ok());
  auto file = GgufFile::Open(path.string());
  ASSERT_TRUE(file.ok()) << file.message();
  const GgufFile& g = **file;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.GetString("general.architecture").value(), "gpt2");
  EXPECT_EQ(g.GetInt("gpt2.block_count", 0, 100).value(), 12);
  EXPECT_FLOAT_EQ(static_cast<float>(g.GetFloat("eps").value()), 1e-5f);
  EXPECT_EQ(g.Find("flag")->data[0], 1);
  EXPECT_EQ(g.GetStrings("tokens").value(), (std::vector<std::string_view>{"a", "", "Ġthe"}));
  EXPECT_EQ(g.GetInts("types").value(), (std::vector<int64_t>{1, 3, -2}));
  ASSERT_EQ(g.metadata().size(), 6u);
  EXPECT_EQ(g.metadata()[3].first, "flag");  // file order kept
  const GgufTensor* mat = g.FindTensor("mat");
  ASSERT_NE(mat, nullptr);
  EXPECT_EQ(mat->ne, (std::vector<int64_t>{64, 2}));
  EXPECT_EQ(mat->offset, 32u);  // the 12 bytes of "vec" padded to 32
  EXPECT_EQ(std::memcmp(mat->data, q4.data(), q4.size()), 0);
  EXPECT_EQ(std::memcmp(g.FindTensor("vec")->data, f, sizeof(f)), 0);
  EXPECT_EQ(fs::file_size(path), g.data_offset() + 32 + 96);  // every tensor padded to 32
  // Typed accessors name the key and the types.
  auto wrong = g.GetInt("general.architecture", 0, 1);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("'general.architecture': expected an integer, got STRING"), std::string::npos);
  auto range = g.GetInt("gpt2.block_count", 0, 4);
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.message().find("expected an integer in [0, 4], got 12"), std::string::npos);
  EXPECT_NE(g.GetString("missing").message().find("missing metadata key 'missing'"), std::string::npos);
  fs::remove(path);
}

TEST(Gguf, WriterRejectsBytesThatDoNotMatchTheShape) {
  std::vector<uint8_t> bytes(10);
  GgufWriter w;
  w.AddTensor("t", {32}, kGgmlQ8_0, bytes.data(), 10);
  Status s = w.Write((fs::temp_directory_path() / "gguf_test_bad.gguf").string());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("tensor 't'"), std::string::npos);
  fs::remove(fs::temp_directory_path() / "gguf_test_bad.gguf");
}

TEST(Gguf, RejectsBadMagic) {
  Bytes b = ValidFile();
  b.data[0] = 'X';
  ExpectError(b, {"not a GGUF file", "expected the magic 'GGUF'", "got 'XGUF'"});
  ExpectError(Bytes(), {"not a GGUF file", "got 0 bytes"});
}

TEST(Gguf, RejectsUnsupportedVersions) {
  for (uint32_t version : {1u, 4u}) {
    Bytes b;
    b.Header(0, 0, version);
    ExpectError(b, {"is not supported: expected 2 or 3"});
    EXPECT_NE(Parse(b).message().find("GGUF version " + std::to_string(version)), std::string::npos);
  }
  Bytes be;
  be.Header(0, 0, 0x03000000u);
  ExpectError(be, {"big-endian"});
}

TEST(Gguf, EveryTruncationOfTheHeaderIsAClearError) {
  const Bytes full = ValidFile();
  auto file = Parse(full);
  ASSERT_TRUE(file.ok());
  // Every cut inside the header and tensor infos, and inside the data.
  for (size_t cut = 0; cut < full.data.size(); ++cut) {
    Bytes b;
    b.data.assign(full.data.begin(), full.data.begin() + static_cast<std::ptrdiff_t>(cut));
    auto cut_file = Parse(b);
    ASSERT_FALSE(cut_file.ok()) << "cut at " << cut;
    EXPECT_FALSE(cut_file.message().empty());
  }
}

TEST(Gguf, RejectsCountsLargerThanTheFile) {
  Bytes kv;
  kv.Header(0, 1'000'000'000'000ull);
  ExpectError(kv, {"metadata count 1000000000000", "larger than the file"});
  Bytes tensors;
  tensors.Header(5'000'000, 0);
  ExpectError(tensors, {"tensor count 5000000", "larger than the file"});
}

TEST(Gguf, RejectsStringLengthsLargerThanTheFile) {
  Bytes key;
  key.Header(0, 1).Put<uint64_t>(1ull << 40).Zeros(16);
  ExpectError(key, {"metadata key 0", "string length 1099511627776", "bytes left"});
  Bytes value;
  value.Header(0, 1).Str("k").Put<uint32_t>(8).Put<uint64_t>(~0ull).Zeros(8);
  ExpectError(value, {"metadata key 'k'", "string length 18446744073709551615"});
  Bytes array;
  array.Header(0, 1).Str("arr").Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(1ull << 60).Zeros(8);
  ExpectError(array, {"metadata key 'arr'", "array of 1152921504606846976 STRING values"});
  Bytes name;
  name.Header(1, 0).Put<uint64_t>(1ull << 33).Zeros(40);
  ExpectError(name, {"the name of tensor 0", "string length 8589934592"});
}

TEST(Gguf, RejectsBadValueTypes) {
  Bytes type;
  type.Header(0, 1).Str("k").Put<uint32_t>(13).Zeros(8);
  ExpectError(type, {"metadata key 'k'", "unknown value type 13"});
  Bytes nested;
  nested.Header(0, 1).Str("k").Put<uint32_t>(9).Put<uint32_t>(9).Put<uint64_t>(1).Zeros(16);
  ExpectError(nested, {"metadata key 'k'", "array element type 9"});
  Bytes boolean;
  boolean.Header(0, 1).Str("k").Put<uint32_t>(7).Put<uint8_t>(2).Zeros(8);
  ExpectError(boolean, {"BOOL value 2"});
}

TEST(Gguf, RejectsRepeatedKeysAndNames) {
  Bytes keys;
  keys.Header(0, 2).KvU32("a", 1).KvU32("a", 2);
  ExpectError(keys, {"metadata key 'a' appears twice"});
  Bytes names;
  names.Header(2, 0).TensorInfo("t", {8}, 0, 0).TensorInfo("t", {8}, 0, 32).PadTo(32).Zeros(64);
  ExpectError(names, {"tensor 't' appears twice"});
}

TEST(Gguf, RejectsBadAlignment) {
  Bytes b;
  b.Header(0, 1).KvU32("general.alignment", 48);
  ExpectError(b, {"general.alignment", "expected a power of two, got 48"});
  Bytes type;
  type.Header(0, 1).Str("general.alignment").Put<uint32_t>(8).Str("32");
  ExpectError(type, {"general.alignment", "expected type UINT32, got STRING"});
}

TEST(Gguf, RejectsBadDimensions) {
  Bytes zero_dims;
  zero_dims.Header(1, 0).Str("t").Put<uint32_t>(0).Put<uint32_t>(0).Put<uint64_t>(0).Zeros(32);
  ExpectError(zero_dims, {"tensor 't'", "0 dimensions, expected 1..4"});
  Bytes five;
  five.Header(1, 0).TensorInfo("t", {1, 1, 1, 1, 1}, 0, 0).Zeros(64);
  ExpectError(five, {"tensor 't'", "5 dimensions"});
  Bytes empty;
  empty.Header(1, 0).TensorInfo("t", {8, 0}, 0, 0).Zeros(64);
  ExpectError(empty, {"tensor 't'", "dimension 1 is 0"});
  Bytes huge;
  huge.Header(1, 0).TensorInfo("t", {1ull << 30, 1ull << 30}, 0, 0).Zeros(64);
  ExpectError(huge, {"tensor 't'", "dimension 1 is 1073741824"});
}

TEST(Gguf, RejectsUnknownTypesAndPartialBlocks) {
  Bytes unknown;
  unknown.Header(1, 0).TensorInfo("t", {32}, 99, 0).PadTo(32).Zeros(64);
  ExpectError(unknown, {"tensor 't'", "unknown ggml tensor type 99"});
  Bytes removed;  // Q4_2 (id 4) was removed from ggml
  removed.Header(1, 0).TensorInfo("t", {32}, 4, 0).PadTo(32).Zeros(64);
  ExpectError(removed, {"unknown ggml tensor type 4"});
  Bytes partial;
  partial.Header(1, 0).TensorInfo("t", {100, 2}, 8, 0).PadTo(32).Zeros(256);
  ExpectError(partial, {"tensor 't'", "rows of 100 values are not whole q8_0 blocks of 32"});
}

TEST(Gguf, RejectsOffsetsMisalignedOutOfRangeOrOverlapping) {
  Bytes misaligned;
  misaligned.Header(1, 0).TensorInfo("t", {8}, 0, 4).PadTo(32).Zeros(64);
  ExpectError(misaligned, {"tensor 't'", "offset 4 is not a multiple of the alignment 32"});
  Bytes out;
  out.Header(1, 0).TensorInfo("t", {8}, 0, 64).PadTo(32).Zeros(64);
  ExpectError(out, {"tensor 't'", "bytes [64, 96) of the data section are out of range", "holds 64 bytes"});
  Bytes wrap;
  wrap.Header(1, 0).TensorInfo("t", {8}, 0, ~uint64_t{31}).PadTo(32).Zeros(64);
  ExpectError(wrap, {"tensor 't'", "out of range"});
  Bytes overlap;
  overlap.Header(2, 0).TensorInfo("a", {16}, 0, 0).TensorInfo("b", {8}, 0, 32).PadTo(32).Zeros(128);
  ExpectError(overlap, {"tensors 'a' and 'b' overlap"});
}

TEST(Gguf, AcceptsVersion2AndTheAlignmentKey) {
  Bytes b;
  b.Header(1, 1, 2).KvU32("general.alignment", 64).TensorInfo("t", {8}, 0, 0).PadTo(64).Zeros(32);
  auto file = Parse(b);
  ASSERT_TRUE(file.ok()) << file.message();
  EXPECT_EQ((*file)->alignment(), 64u);
  EXPECT_EQ((*file)->data_offset() % 64, 0u);
}

}  // namespace
}  // namespace gpt2q
