// UTF-8 validation and loading of text files (corpora, prompts) into memory.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gpt2q {

// Returns the byte offset of the first byte that does not start a well-formed
// UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF, no truncated sequences), or nullopt when all of `text` is valid.
std::optional<size_t> FindInvalidUtf8(std::string_view text);

// Returns true if `text` is well-formed UTF-8 in the sense of FindInvalidUtf8.
bool IsValidUtf8(std::string_view text);

// Returns the whole content of the file at `path`. Fails, naming the path, if
// it is missing or unreadable, or if it is not valid UTF-8 (naming the byte
// offset of the first bad byte).
Result<std::string> ReadTextFile(const std::string& path);

// Returns the whole content of the file at `path` as raw bytes (no encoding
// check). Fails, naming the path, if it is missing or unreadable.
Result<std::string> ReadBinaryFile(const std::string& path);

}  // namespace gpt2q
