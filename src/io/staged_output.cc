// StagedOutput: staging sibling, fsync, atomic rename into place, stale
// temporaries of killed runs (see staged_output.h for the protocol).
#include "io/staged_output.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

namespace gpt2q {
namespace fs = std::filesystem;
namespace {

constexpr char kTempTag[] = ".gpt2q-tmp-";
constexpr char kAsideTag[] = ".gpt2q-old-";

std::string Errno() { return std::strerror(errno); }

// Returns the PID of `entry` if it is exactly "." + name + tag + PID (decimal
// digits, no leading zero, a valid pid_t), otherwise -1.
long ParseTempPid(const std::string& entry, const std::string& name, const std::string& tag) {
  const std::string prefix = "." + name + tag;
  if (entry.size() <= prefix.size() || entry.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = entry.substr(prefix.size());
  if (digits.size() > 10 || digits[0] == '0') return -1;
  long long pid = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    pid = pid * 10 + (c - '0');
  }
  return pid > INT_MAX ? -1 : static_cast<long>(pid);
}

// True when process `pid` exists (ours or another user's).
bool ProcessRunning(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

Status SyncPath(const std::string& path, bool is_dir) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
  if (fd < 0) return Status::Error(path + ": cannot open to sync: " + Errno());
  if (::fsync(fd) != 0) {
    const std::string reason = Errno();
    ::close(fd);
    return Status::Error(path + ": fsync failed: " + reason);
  }
  ::close(fd);
  return OkStatus();
}

// fsyncs every regular file and folder under `root`, then `root` itself.
Status SyncTree(const std::string& root) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::file_status st = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_regular_file(st)) GPT2Q_RETURN_IF_ERROR(SyncPath(it->path().string(), false));
    if (fs::is_directory(st)) GPT2Q_RETURN_IF_ERROR(SyncPath(it->path().string(), true));
  }
  if (ec) return Status::Error(root + ": cannot list the staged output: " + ec.message());
  return SyncPath(root, true);
}

// True when renameat2 failed because the filesystem or kernel lacks the flag.
bool FlagUnsupported(int err) { return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == ENOTSUP; }

}  // namespace

std::string StagingName(const std::string& name, long pid) { return "." + name + kTempTag + std::to_string(pid); }

std::string AsideName(const std::string& name, long pid) { return "." + name + kAsideTag + std::to_string(pid); }

namespace {

// Removes the stale temporaries of `final` in `parent` and restores an old
// output left aside by an interrupted replacement (see staged_output.h).
void CleanStale(const fs::path& parent, const fs::path& final, std::vector<std::string>& notes) {
  const std::string name = final.filename().string();
  const long self = static_cast<long>(::getpid());
  std::vector<std::pair<fs::path, long>> asides;
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    long pid = ParseTempPid(entry, name, kTempTag);
    const bool aside = pid < 0;
    if (aside) pid = ParseTempPid(entry, name, kAsideTag);
    if (pid < 0) continue;
    if (pid != self && ProcessRunning(pid)) {
      notes.push_back(it->path().string() + ": left in place: process " + std::to_string(pid) +
                      ", which is writing it, is still running");
      continue;
    }
    if (aside) {
      asides.emplace_back(it->path(), pid);
      continue;
    }
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    notes.push_back(rm ? it->path().string() + ": cannot remove this stale temporary of process " +
                             std::to_string(pid) + ": " + rm.message()
                       : "removed " + it->path().string() + ", the stale temporary of a killed run (process " +
                             std::to_string(pid) + ")");
  }
  if (ec) notes.push_back(parent.string() + ": cannot list it for stale temporaries: " + ec.message());
  for (const auto& [path, pid] : asides) {
    struct stat st;
    if (::lstat(final.c_str(), &st) != 0 && errno == ENOENT) {
      if (::rename(path.c_str(), final.c_str()) == 0) {
        notes.push_back("restored " + final.string() + " from " + path.string() +
                        ": its replacement by process " + std::to_string(pid) + " was interrupted");
      } else {
        notes.push_back(path.string() + ": cannot restore it to " + final.string() + ": " + Errno());
      }
      continue;
    }
    std::error_code rm;
    fs::remove_all(path, rm);
    notes.push_back(rm ? path.string() + ": cannot remove this replaced output of process " + std::to_string(pid) +
                             ": " + rm.message()
                       : "removed " + path.string() + ", the replaced output left by an interrupted run (process " +
                             std::to_string(pid) + ")");
  }
}

}  // namespace

Result<StagedOutput> StagedOutput::Begin(const std::string& output, const StagedOutputOptions& options) {
  StagedOutput staged;
  staged.options_ = options;
  staged.active_ = true;  // from here on the destructor removes what Begin created
  GPT2Q_ASSIGN_OR_RETURN(staged.final_, ResolveOutputPath(output));
  const fs::path final(staged.final_);
  if (final == final.root_path()) return Status::Error(output + ": is the filesystem root (expected a new path)");
  GPT2Q_RETURN_IF_ERROR(CheckOutputApartFromInputs(output, options.inputs));
  if (options.force) {
    std::error_code ec;
    const fs::path cwd = fs::current_path(ec);
    if (!ec && PathIsSameOrInside(fs::weakly_canonical(cwd, ec).string(), staged.final_)) {
      return Status::Error(output + " (" + staged.final_ +
                           "): contains the current working folder; refusing to replace it");
    }
  }

  // Missing parents, outermost first; they go again if nothing is committed.
  std::vector<fs::path> missing;
  for (fs::path p = final.parent_path(); p != p.root_path(); p = p.parent_path()) {
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0) break;
    missing.push_back(p);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0777) != 0) {
      return Status::Error(it->string() + ": cannot create the output's parent folder: " + Errno());
    }
    staged.created_parents_.insert(staged.created_parents_.begin(), it->string());
  }

  CleanStale(final.parent_path(), final, staged.notes_);
  GPT2Q_ASSIGN_OR_RETURN(OutputState state, InspectOutput(staged.final_, options.kind));
  if (state == OutputState::kNonEmpty && !options.force) {
    return Status::Error(output + ": exists and is not empty (expected nothing or an empty " +
                         OutputKindName(options.kind) + "); force (--force) replaces it once the new one is complete");
  }
  staged.staging_ = (final.parent_path() / StagingName(final.filename().string(), ::getpid())).string();
  if (options.kind == OutputKind::kFolder && ::mkdir(staged.staging_.c_str(), 0777) != 0) {
    const std::string reason = Errno();
    staged.staging_.clear();  // not ours: never remove it
    return Status::Error(output + ": cannot create the staging folder beside it: " + reason);
  }
  return staged;
}

StagedOutput::StagedOutput(StagedOutput&& other) noexcept
    : options_(std::move(other.options_)),
      final_(std::move(other.final_)),
      staging_(std::move(other.staging_)),
      created_parents_(std::move(other.created_parents_)),
      notes_(std::move(other.notes_)),
      committed_(other.committed_),
      active_(other.active_) {
  other.active_ = false;
}

StagedOutput::~StagedOutput() {
  if (!active_ || committed_) return;
  std::error_code ec;
  if (!staging_.empty()) fs::remove_all(staging_, ec);
  for (const std::string& parent : created_parents_) fs::remove(parent, ec);  // only if still empty
}

Status StagedOutput::ReplaceFolder() {
  const fs::path final(final_);
  const std::string parent = final.parent_path().string();
  if (options_.allow_exchange) {
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) == 0) {
      committed_ = true;  // the new output is in place; the old one is at staging_
      GPT2Q_RETURN_IF_ERROR(SyncPath(parent, true));
      std::error_code ec;
      fs::remove_all(staging_, ec);
      if (ec) {
        notes_.push_back(staging_ + ": cannot delete the replaced output (" + ec.message() +
                         "); the next run removes it");
      }
      return OkStatus();
    }
    if (!FlagUnsupported(errno)) return Status::Error(final_ + ": cannot swap the new output in: " + Errno());
  }
  const std::string aside = (final.parent_path() / AsideName(final.filename().string(), ::getpid())).string();
  if (::rename(final_.c_str(), aside.c_str()) != 0) {
    return Status::Error(final_ + ": cannot move the old output aside to " + aside + ": " + Errno());
  }
  if (::rename(staging_.c_str(), final_.c_str()) != 0) {
    const std::string reason = Errno();
    if (::rename(aside.c_str(), final_.c_str()) != 0) {
      return Status::Error(final_ + ": cannot move the new output in (" + reason + ") nor the old one back (" +
                           Errno() + "); the old output is at " + aside);
    }
    return Status::Error(final_ + ": cannot move the new output in: " + reason);
  }
  committed_ = true;
  GPT2Q_RETURN_IF_ERROR(SyncPath(parent, true));
  std::error_code ec;
  fs::remove_all(aside, ec);
  if (ec) notes_.push_back(aside + ": cannot delete the replaced output (" + ec.message() + "); the next run removes it");
  return OkStatus();
}

Status StagedOutput::Commit() {
  if (!active_ || committed_) return Status::Error(final_ + ": the staged output was already committed");
  struct stat st;
  const bool folder = options_.kind == OutputKind::kFolder;
  if (::lstat(staging_.c_str(), &st) != 0 || (folder ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
    return Status::Error(final_ + ": nothing was written to the staging " + OutputKindName(options_.kind) + " " +
                         staging_);
  }
  GPT2Q_RETURN_IF_ERROR(folder ? SyncTree(staging_) : SyncPath(staging_, false));
  GPT2Q_ASSIGN_OR_RETURN(OutputState state, InspectOutput(final_, options_.kind));
  const std::string parent = fs::path(final_).parent_path().string();
  if (state == OutputState::kNonEmpty && !options_.force) {
    return Status::Error(final_ + ": appeared while the output was being written; left as it is");
  }
  if (state == OutputState::kNonEmpty && folder) return ReplaceFolder();
  int rc = -1;
  if (state == OutputState::kAbsent) {
    rc = ::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, final_.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == EEXIST) return Status::Error(final_ + ": appeared while the output was being written; left as it is");
    if (rc != 0 && FlagUnsupported(errno)) rc = ::rename(staging_.c_str(), final_.c_str());
  } else {
    // An empty folder, or any file: rename(2) replaces it atomically. A folder
    // filled meanwhile fails with ENOTEMPTY and is left alone.
    rc = ::rename(staging_.c_str(), final_.c_str());
  }
  if (rc != 0) return Status::Error(final_ + ": cannot move the new output into place: " + Errno());
  committed_ = true;
  return SyncPath(parent, true);
}

}  // namespace gpt2q
