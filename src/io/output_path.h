// Output paths that cannot destroy an input: where an output may go, and what
// is already there. Used by StagedOutput (staged_output.h) before any write.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace gpt2q {

// What a writer produces at its output path.
enum class OutputKind { kFolder, kFile };

// Returns "folder" or "file".
const char* OutputKindName(OutputKind kind);

// Returns the absolute path of `path` with "." and ".." removed and every
// symlink of its existing part resolved (std::filesystem::weakly_canonical),
// without a trailing separator. An error for an empty path or one the system
// cannot resolve (naming the path and the reason).
Result<std::string> ResolveOutputPath(const std::string& path);

// True when `inner` is `outer` or lies inside it, comparing the components of
// the two paths as given (resolve them first with ResolveOutputPath).
bool PathIsSameOrInside(const std::string& inner, const std::string& outer);

// Returns an error, naming both paths, if `output` is, contains or lies inside
// one of `inputs` (files or folders: a folder model is its folder, a
// single-file model its file). Compares resolved paths (symlinks followed) and,
// for the parts that exist, the (device, inode) identity of the output, the
// inputs and all their ancestors, so that a bind mount or a second path to the
// same folder is caught too. Inputs that do not exist are compared by path.
Status CheckOutputApartFromInputs(const std::string& output, const std::vector<std::string>& inputs);

// What is at an output path before it is written.
enum class OutputState {
  kAbsent,     // nothing: the output is created
  kEmpty,      // an empty folder (kFolder only): replaced without force
  kNonEmpty,   // a non-empty folder or a file: replaced only with force
};

// Returns the state of `path` for an output of `kind`; an error when `path` is
// the wrong kind (a file where a folder is expected, or a folder where a file
// is), something else (a socket, a device), a dangling symlink, or cannot be
// inspected.
Result<OutputState> InspectOutput(const std::string& path, OutputKind kind);

}  // namespace gpt2q
