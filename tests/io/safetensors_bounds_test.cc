// Bounded header parsing: 100 MiB adversarial safetensors headers are rejected
// with a clear error, with peak memory under 3× the header's size and under
// one second per 10 MB, measured in a child process (its VmHWM growth, which
// counts the mapped header's file-backed pages too).
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <climits>
#include <cstring>
#include <functional>
#include <string>

#include "bad_inputs.h"
#include "core/memory_stats.h"
#include "io/safetensors.h"
#include "io/safetensors_header.h"

namespace gpt2q {
namespace {

constexpr uint64_t kHeaderBytes = SafetensorsFile::kMaxHeaderBytes;  // 100 MiB

std::string Repeat(const std::string& s, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += s;
  return out;
}

// Appends unit i of a header to `out`; appends nothing when there are no more.
using UnitFn = std::function<void(int64_t i, std::string* out)>;

// Writes a safetensors file whose header is `prefix`, then unit 0, 1, ...
// while they fit, then `suffix`, padded with spaces to exactly kHeaderBytes;
// no data section. Streams through a 1 MiB buffer, so this process never
// holds the header.
void WriteHeader(const std::string& path, const std::string& prefix, const UnitFn& unit,
                 const std::string& suffix) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(kHeaderBytes >> (8 * i));
  std::fwrite(len, 1, 8, f);
  std::string chunk = prefix;
  uint64_t written = 0;
  auto flush = [&] {
    std::fwrite(chunk.data(), 1, chunk.size(), f);
    written += chunk.size();
    chunk.clear();
  };
  // A unit that does not depend on i is repeated a whole 1 MiB block at a time.
  std::string u0, u1;
  if (unit) {
    unit(0, &u0);
    unit(1, &u1);
  }
  const bool periodic = !u0.empty() && u0 == u1;
  const std::string block = periodic ? Repeat(u0, static_cast<int>((1u << 20) / u0.size())) : "";
  for (int64_t i = 0; unit; ++i) {
    if (periodic && written + chunk.size() + block.size() + suffix.size() <= kHeaderBytes) {
      chunk += block;
      flush();
      continue;
    }
    const size_t before = chunk.size();
    unit(i, &chunk);
    if (chunk.size() == before || written + chunk.size() + suffix.size() > kHeaderBytes) {
      chunk.resize(before);
      break;
    }
    if (chunk.size() >= (1u << 20)) flush();
  }
  chunk += suffix;
  flush();
  while (written < kHeaderBytes) {
    chunk.assign(std::min<uint64_t>(kHeaderBytes - written, 1u << 20), ' ');
    flush();
  }
  ASSERT_EQ(std::fclose(f), 0);
}

// What opening a file cost in a fresh child process.
struct Probe {
  bool ok = false;
  double seconds = 0;
  int64_t peak_growth = 0;  // VmHWM after - VmRSS before, bytes
  char message[512] = {};
};

Probe OpenInChild(const std::string& path) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    Probe p;
    ::malloc_trim(0);  // free memory inherited from the parent would hide allocations
    const bool reset = ResetPeakRss();
    const int64_t before = reset ? CurrentRssBytes() : PeakRssBytes();
    const auto t0 = std::chrono::steady_clock::now();
    {
      auto file = SafetensorsFile::Open(path);
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      p.ok = file.ok();
      std::snprintf(p.message, sizeof(p.message), "%s", file.message().c_str());
    }
    p.peak_growth = PeakRssBytes() - before;
    const bool sent = ::write(fds[1], &p, sizeof(p)) == static_cast<ssize_t>(sizeof(p));
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  Probe p;
  size_t got = 0;
  while (got < sizeof(p)) {
    const ssize_t r = ::read(fds[0], reinterpret_cast<char*>(&p) + got, sizeof(p) - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(got, sizeof(p)) << "the child died: status " << status;
  return p;
}

struct Adversary {
  const char* name;
  std::string prefix;
  UnitFn unit;
  std::string suffix;
  const char* fragment;  // in the error; nullptr: the header is valid
};

// Appends i as 8 decimal digits.
void AppendPadded(int64_t i, std::string* out) {
  char d[8];
  for (int k = 7; k >= 0; --k, i /= 10) d[k] = static_cast<char>('0' + i % 10);
  out->append(d, 8);
}

// A unit that is always `s`.
UnitFn Always(std::string s) {
  return [s](int64_t, std::string* out) { *out += s; };
}

// A unit `before` + i as 8 digits + `after`, for i < `count`.
UnitFn Numbered(std::string before, std::string after, int64_t count = INT64_MAX) {
  return [=](int64_t i, std::string* out) {
    if (i >= count) return;
    *out += before;
    AppendPadded(i, out);
    *out += after;
  };
}

TEST(SafetensorsBounds, AdversarialHeadersStayUnderThreeTimesTheirSizeAndOneSecondPer10MB) {
  if (PeakRssBytes() == 0) GTEST_SKIP() << "no VmHWM in /proc/self/status";
  const std::string path = testing::MakeTempDir("st_bounds") + "/big.safetensors";
  const std::string tensor = R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)";
  const Adversary adversaries[] = {
      {"deep nesting", "", Always("["), "", "must be a JSON object, got array"},
      {"deep nesting in a shape", R"({"a":{"dtype":"F32","shape":)", Always("["), "",
       "non-negative integers, got an array"},
      {"{} repeated", "", Always("{}"), "", "not valid JSON"},
      {"many empty objects", "{", Numbered("\"", "\":{},"), "}",
       "tensor '00000000': missing or non-string 'dtype'"},
      {"one huge tensor name", "{\"", Always("x"), "\":{}}", "longer than 4096 bytes"},
      {"one huge metadata value", "{\"__metadata__\":{\"k\":\"", Always("x"), "\"}}",
       "longer than 16777216 bytes"},
      {"millions of metadata keys", "{\"__metadata__\":{", Numbered("\"k", "\":\"\","),
       "\"end\":\"\"}}", "more than 100000 keys"},
      {"millions of tensors", "{", Numbered("\"t", tensor), "\"end\":{}}",
       "more than 100000 tensors"},
      {"a huge number", R"({"a":{"dtype":"F32","shape":[)", Always("9"), "]}}",
       "a number of more than 40 characters"},
      {"a shape of millions of dimensions", R"({"a":{"dtype":"F32","shape":[)", Always("1,"),
       "1]}}", "more than 8 dimensions"},
      {"a duplicate name among 99,000", "{\"a" + tensor, Numbered("\"t", tensor, 99000),
       "\"a" + tensor.substr(0, tensor.size() - 1) + "}", "tensor 'a' appears twice"},
      {"whitespace (valid)", "", nullptr, "{}", nullptr},
  };
  for (const Adversary& a : adversaries) {
    SCOPED_TRACE(a.name);
    const auto t0 = std::chrono::steady_clock::now();
    WriteHeader(path, a.prefix, a.unit, a.suffix);
    const double write_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const Probe p = OpenInChild(path);
    if (a.fragment == nullptr) {
      EXPECT_TRUE(p.ok) << p.message;
    } else {
      EXPECT_FALSE(p.ok);
      EXPECT_NE(std::string(p.message).find(path + ": "), std::string::npos) << p.message;
      EXPECT_NE(std::string(p.message).find(a.fragment), std::string::npos) << p.message;
    }
    EXPECT_LT(p.peak_growth, static_cast<int64_t>(3 * kHeaderBytes));
    EXPECT_LT(p.seconds, static_cast<double>(kHeaderBytes) / 10e6);
    std::printf("[ bounds ] %-32s written in %5.2f s, opened in %5.3f s, peak +%6.1f MiB: %s\n",
                a.name, write_s, p.seconds, p.peak_growth / 1048576.0, p.message);
  }
  std::remove(path.c_str());
}

// A header that is valid all the way through (100,000 tensors with long
// names, the most the parser keeps) stays within the same bounds.
TEST(SafetensorsBounds, TheLargestAcceptedHeaderStaysInBounds) {
  if (PeakRssBytes() == 0) GTEST_SKIP() << "no VmHWM in /proc/self/status";
  const std::string path = testing::MakeTempDir("st_bounds") + "/big.safetensors";
  const std::string name(900, 'n');
  WriteHeader(path, "{",
              Numbered("\"" + name, R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)",
                       kMaxHeaderTensors),
              "\"__metadata__\":{}}");
  const Probe p = OpenInChild(path);
  EXPECT_TRUE(p.ok) << p.message;
  EXPECT_LT(p.peak_growth, static_cast<int64_t>(3 * kHeaderBytes));
  EXPECT_LT(p.seconds, static_cast<double>(kHeaderBytes) / 10e6);
  std::printf("[ bounds ] 100000 valid tensors             %6.3f s  peak +%7.1f MiB\n", p.seconds,
              p.peak_growth / 1048576.0);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace gpt2q
