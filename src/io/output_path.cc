// Output paths that cannot destroy an input (see output_path.h).
#include "io/output_path.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

namespace gpt2q {
namespace fs = std::filesystem;
namespace {

// True when `inner` is `outer` or lies inside it; both resolved paths.
bool IsSameOrInside(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

struct FileId {
  dev_t dev;
  ino_t ino;
  bool operator==(const FileId& other) const { return dev == other.dev && ino == other.ino; }
};

// The identities of `path` (first, when it exists) and of its existing
// ancestors up to the root; `exists` says whether the first entry is `path`.
std::vector<FileId> IdentityChain(const fs::path& path, bool* exists) {
  std::vector<FileId> ids;
  *exists = false;
  bool first = true;
  for (fs::path p = path;; p = p.parent_path()) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) {
      if (first) *exists = true;
      ids.push_back({st.st_dev, st.st_ino});
    }
    first = false;
    if (p == p.root_path() || p.empty()) break;
  }
  return ids;
}

bool Contains(const std::vector<FileId>& ids, size_t from, const FileId& id) {
  for (size_t i = from; i < ids.size(); ++i) {
    if (ids[i] == id) return true;
  }
  return false;
}

}  // namespace

bool PathIsSameOrInside(const std::string& inner, const std::string& outer) {
  return IsSameOrInside(fs::path(inner), fs::path(outer));
}

const char* OutputKindName(OutputKind kind) { return kind == OutputKind::kFolder ? "folder" : "file"; }

Result<std::string> ResolveOutputPath(const std::string& path) {
  if (path.empty()) return Status::Error("output path: empty (expected a file or folder name)");
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec);
  if (ec) return Status::Error(path + ": cannot make the path absolute: " + ec.message());
  fs::path resolved = fs::weakly_canonical(absolute, ec);
  if (ec) return Status::Error(path + ": cannot resolve the path: " + ec.message());
  resolved = resolved.lexically_normal();
  if (!resolved.has_filename() && resolved != resolved.root_path()) resolved = resolved.parent_path();
  return resolved.string();
}

Status CheckOutputApartFromInputs(const std::string& output, const std::vector<std::string>& inputs) {
  GPT2Q_ASSIGN_OR_RETURN(std::string out_text, ResolveOutputPath(output));
  const fs::path out(out_text);
  bool out_exists = false;
  const std::vector<FileId> out_ids = IdentityChain(out, &out_exists);
  for (const std::string& input : inputs) {
    GPT2Q_ASSIGN_OR_RETURN(std::string in_text, ResolveOutputPath(input));
    const fs::path in(in_text);
    bool in_exists = false;
    const std::vector<FileId> in_ids = IdentityChain(in, &in_exists);
    const bool same = out == in || (out_exists && in_exists && out_ids[0] == in_ids[0]);
    const bool inside = IsSameOrInside(out, in) || (in_exists && Contains(out_ids, out_exists ? 1 : 0, in_ids[0]));
    const bool contains = IsSameOrInside(in, out) || (out_exists && Contains(in_ids, in_exists ? 1 : 0, out_ids[0]));
    const std::string where = output == out_text ? output : output + " (" + out_text + ")";
    if (same) {
      return Status::Error(where + ": the output is the input " + input +
                           "; writing it would destroy the input (expected an output path apart from it)");
    }
    if (inside) {
      return Status::Error(where + ": the output lies inside the input " + input +
                           " (expected an output path outside it)");
    }
    if (contains) {
      return Status::Error(where + ": the output contains the input " + input +
                           "; replacing it would destroy the input (expected an output path that does "
                           "not contain it)");
    }
  }
  return OkStatus();
}

Result<OutputState> InspectOutput(const std::string& path, OutputKind kind) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return OutputState::kAbsent;
    return Status::Error(path + ": cannot inspect the output path: " + std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode) && ::stat(path.c_str(), &st) != 0) {
    return Status::Error(path + ": is a symlink to nothing (" + std::strerror(errno) + "); expected a " +
                         OutputKindName(kind) + " or nothing");
  }
  const std::string expected = std::string("; expected a ") + OutputKindName(kind) + " or nothing";
  if (S_ISDIR(st.st_mode)) {
    if (kind != OutputKind::kFolder) return Status::Error(path + ": is a folder" + expected);
    std::error_code ec;
    fs::directory_iterator it(path, ec);
    if (ec) return Status::Error(path + ": cannot list the folder: " + ec.message());
    return it == fs::directory_iterator() ? OutputState::kEmpty : OutputState::kNonEmpty;
  }
  if (S_ISREG(st.st_mode)) {
    if (kind != OutputKind::kFile) return Status::Error(path + ": is a file" + expected);
    return st.st_size == 0 ? OutputState::kEmpty : OutputState::kNonEmpty;
  }
  return Status::Error(path + ": is neither a file nor a folder" + expected);
}

}  // namespace gpt2q
