// Where secret files live and how one is read: name checks, the secrets folder with its
// /run/secrets fallback, and the read that trims trailing whitespace unless told not to.
#pragma once

#include <string>
#include <string_view>

#include "common/expected.h"
#include "secrets/secret.h"

namespace hw::secrets {

inline constexpr std::string_view kFallbackSecretsPath = "/run/secrets";
// Secret files are small; anything bigger is refused rather than read into memory.
inline constexpr std::size_t kMaxSecretFileBytes = 64 * 1024;

// Ok for a plain file name; Error (naming the value) for an empty name or one containing '/'
// or "..", which could reach outside the secrets folder.
Status CheckSecretName(std::string_view name);

// `configured` if that folder exists, else `fallback` if that one exists, else `configured`
// (so the error about the missing file names the folder the operator set).
std::string ResolveSecretsDirectory(
    const std::string& configured, const std::string& fallback = std::string(kFallbackSecretsPath));

// Reads one secret file. Unless `raw`, trailing '\r', '\n', ' ' and '\t' are removed.
// Error (naming the path, never the content) if the file is missing, unreadable, not a
// regular file, larger than kMaxSecretFileBytes, or empty after trimming.
Expected<Secret> ReadSecretFile(const std::string& path, bool raw);

}  // namespace hw::secrets
