// A manifest file as the control plane reads it (agent/policy/k8s_decode.h), Istio kinds
// included: any bytes give objects or errors naming the file, never a crash, and a file with an
// error gives no object.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "agent/policy/k8s_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  warden::policy::DecodedFile f = warden::policy::DecodeManifestFile("fuzz.yaml", text);
  if (!f.errors.empty() && !f.objects.empty()) std::abort();
  for (const auto& e : f.errors) {
    if (e.file != "fuzz.yaml") std::abort();
  }
  return 0;
}
