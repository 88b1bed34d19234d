#include "agent/policy/manifest_loader.h"

#include <cstdint>
#include <cstdio>
#include <memory>

#include "agent/policy/manifest_assembly.h"
#include "agent/policy/manifest_dir.h"

namespace warden::policy {

LoadResult LoadManifestDir(const std::string& dir) {
  std::vector<ManifestError> read_errors;
  Texts files = ReadManifestFiles(dir, &read_errors, nullptr);
  LoadResult out = LoadTexts(files, nullptr);
  out.errors.insert(out.errors.begin(), read_errors.begin(), read_errors.end());
  return out;
}

LoadResult LoadManifestTexts(const std::vector<std::pair<std::string, std::string>>& files) {
  Texts texts;
  for (const auto& [name, content] : files)
    texts.emplace_back(name, std::make_shared<const std::string>(content));
  return LoadTexts(texts, nullptr);
}

std::string DerivedPodUid(const std::string& ns, const std::string& name) {
  auto fnv = [](const std::string& s, uint64_t h) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return h;
  };
  std::string key = ns + "/" + name;
  uint64_t a = fnv(key, 1469598103934665603ull), b = fnv(key, 0x9e3779b97f4a7c15ull);
  char buf[40];
  snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
           static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

}  // namespace warden::policy
