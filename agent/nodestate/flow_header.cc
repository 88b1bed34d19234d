#include "agent/nodestate/flow_header.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/policy/k8s_names.h"
#include "google/protobuf/io/coded_stream.h"
#include "warden/v1/flow.pb.h"

namespace warden::nodestate {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("flow header: ", field, ": ", why));
}

absl::Status CheckName(const std::string& field, const std::string& value,
                       std::string (*check)(const std::string&)) {
  if (value.empty()) return Bad(field, "empty");
  if (std::string why = check(value); !why.empty()) return Bad(field, why);
  return absl::OkStatus();
}

}  // namespace

std::string EncodeFlowHeader(const Flow& f) {
  v1::FlowHeader h;
  h.set_namespace_(f.ns);
  h.set_pod(f.pod);
  h.set_service_account(f.service_account);
  h.set_identity(f.identity);
  h.set_original_ip(std::string(reinterpret_cast<const char*>(f.original_ip.bytes.data()),
                                f.original_ip.family == policy::Family::kV4 ? 4 : 16));
  h.set_original_port(f.original_port);
  h.set_flow_id(f.flow_id);
  const std::string body = h.SerializeAsString();
  std::string out;
  google::protobuf::io::StringOutputStream sink(&out);
  {
    google::protobuf::io::CodedOutputStream coded(&sink);
    coded.WriteVarint32(static_cast<uint32_t>(body.size()));
    coded.WriteString(body);
  }
  return out;
}

absl::StatusOr<std::optional<DecodedFlow>> DecodeFlowHeader(absl::string_view bytes) {
  // The varint length: at most 5 bytes; a length past the limit is refused before waiting for it.
  uint64_t len = 0;
  size_t at = 0;
  for (int shift = 0;; shift += 7) {
    if (at == bytes.size()) return std::optional<DecodedFlow>();
    if (at == 5) return Bad("length", "not a varint");
    const uint8_t b = static_cast<uint8_t>(bytes[at++]);
    len |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (len > kMaxFlowHeaderBytes)
    return Bad("length", absl::StrCat(len, " bytes, above ", kMaxFlowHeaderBytes));
  if (bytes.size() - at < len) return std::optional<DecodedFlow>();
  v1::FlowHeader h;
  if (!h.ParseFromArray(bytes.data() + at, static_cast<int>(len)))
    return Bad("message", "not a FlowHeader");
  DecodedFlow d;
  d.consumed = at + len;
  Flow& f = d.flow;
  f.ns = h.namespace_();
  f.pod = h.pod();
  f.service_account = h.service_account();
  if (auto st = CheckName("namespace", f.ns, policy::CheckDns1123Label); !st.ok()) return st;
  if (auto st = CheckName("pod", f.pod, policy::CheckDns1123Subdomain); !st.ok()) return st;
  if (auto st = CheckName("service_account", f.service_account, policy::CheckDns1123Subdomain);
      !st.ok())
    return st;
  f.identity = h.identity();
  const std::string& ip = h.original_ip();
  if (ip.size() != 4 && ip.size() != 16)
    return Bad("original_ip", absl::StrCat(ip.size(), " bytes is no address"));
  f.original_ip.family = ip.size() == 4 ? policy::Family::kV4 : policy::Family::kV6;
  std::memcpy(f.original_ip.bytes.data(), ip.data(), ip.size());
  if (h.original_port() == 0 || h.original_port() > 65535)
    return Bad("original_port", absl::StrCat(h.original_port(), " is not a port"));
  f.original_port = static_cast<uint16_t>(h.original_port());
  f.flow_id = h.flow_id();
  return std::optional<DecodedFlow>(std::move(d));
}

}  // namespace warden::nodestate
