// StagedOutput: writes a folder or a file so that a failure or a kill at any
// point leaves the output path with either what was there before (or nothing)
// or the complete new output, and never touches the inputs.
//
// Protocol. Begin() resolves the output path (symlinks followed), refuses one
// that is, contains or lies inside an input, removes the stale temporaries of
// killed runs beside it, refuses an existing non-empty output unless `force`,
// and reserves the staging path ".NAME.gpt2q-tmp-PID" in the same parent
// folder (same filesystem, so the final rename is atomic). The writer writes
// everything into staging_path(). Commit() fsyncs every file and folder of the
// staging path, then renames it to the output path and fsyncs the parent:
//   - no output yet (or an empty folder/file): renameat2(RENAME_NOREPLACE), or
//     rename(2) over the empty folder/file;
//   - an existing output with `force`: a file is replaced by rename(2) (atomic);
//     a folder is swapped in by renameat2(RENAME_EXCHANGE), after which the old
//     output sits at the staging path and is deleted. A kill during the delete
//     leaves the complete new output in place and the old one at the staging
//     path, a stale temporary that the next run removes.
//   - where the filesystem has no RENAME_EXCHANGE, the old folder is renamed
//     aside to ".NAME.gpt2q-old-PID", the new one renamed in, the old deleted.
//     Window: between those two renames the output path is absent and the
//     complete old output is at the aside name; the next Begin() on this
//     output renames it back (and says so) when the output path is still
//     absent, and removes it otherwise.
// The destructor of an uncommitted StagedOutput removes the staging path and
// any parent folders Begin() created. A temporary is stale when its PID is not
// a running process; only names of exactly the patterns above are touched.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "io/output_path.h"

namespace gpt2q {

struct StagedOutputOptions {
  OutputKind kind = OutputKind::kFolder;
  // Files or folders the output must stay apart from: the model read, its
  // tokenizer folder, ... (CheckOutputApartFromInputs).
  std::vector<std::string> inputs;
  // Replace an existing non-empty output (only after the new one is complete).
  bool force = false;
  // false: always take the rename-aside path, as on filesystems without
  // RENAME_EXCHANGE (for tests of that path).
  bool allow_exchange = true;
};

class StagedOutput {
 public:
  // Checks `output` as the protocol above says and reserves its staging path:
  // an empty folder created for kFolder, a path not yet created for kFile.
  // Missing parent folders are created (and removed again if nothing is
  // committed). Errors name the output path and the reason.
  static Result<StagedOutput> Begin(const std::string& output, const StagedOutputOptions& options);

  StagedOutput(StagedOutput&& other) noexcept;
  StagedOutput& operator=(StagedOutput&& other) = delete;
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;
  // Removes the staging path (and created parents) unless Commit() succeeded.
  ~StagedOutput();

  // Where the writer writes: the staging folder, or the staging file's path.
  const std::string& staging_path() const { return staging_; }
  // The resolved output path that Commit() fills.
  const std::string& final_path() const { return final_; }
  // What Begin() and Commit() did besides the write, one sentence each, for
  // the app to print: stale temporaries removed or restored, live ones left,
  // an old output that could not be deleted.
  const std::vector<std::string>& notes() const { return notes_; }

  // Syncs the staging path and moves it to the output path (see above). An
  // error when nothing was written (kFile: no staging file), the output path
  // changed since Begin() in a way the options forbid, or a sync or rename
  // fails; the output path then holds what it held before.
  Status Commit();

 private:
  StagedOutput() = default;
  Status ReplaceFolder();

  StagedOutputOptions options_;
  std::string final_;
  std::string staging_;
  std::vector<std::string> created_parents_;  // innermost first
  std::vector<std::string> notes_;
  bool committed_ = false;
  bool active_ = false;  // false once moved from
};

// Returns the staging name of `name` for process `pid`: ".NAME.gpt2q-tmp-PID".
std::string StagingName(const std::string& name, long pid);
// Returns the aside name of `name` for process `pid`: ".NAME.gpt2q-old-PID".
std::string AsideName(const std::string& name, long pid);

}  // namespace gpt2q
