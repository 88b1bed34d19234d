// The flow header a gateway reads from a node's connection (agent/nodestate/flow_header.h): any
// bytes are an error, a wait for more, or a header that re-encodes to the bytes it took.
#include <cstdint>
#include <cstdlib>

#include "agent/nodestate/flow_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto got = warden::nodestate::DecodeFlowHeader(bytes);
  if (!got.ok() || !got->has_value()) return 0;
  if ((*got)->consumed > size) std::abort();
  // What was read reads back the same once written again.
  auto again =
      warden::nodestate::DecodeFlowHeader(warden::nodestate::EncodeFlowHeader((*got)->flow));
  if (!again.ok() || !again->has_value() || !((*again)->flow == (*got)->flow)) std::abort();
  return 0;
}
