#include "agent/nodestate/policy_wire.h"

#include <algorithm>
#include <array>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "agent/common/abi.h"

namespace warden::nodestate {

namespace {

using policy::PolicyKey;
using Value = std::array<uint32_t, WD_L4_COUNT + 1>;  // the port sets, then the flags

Value Row(const wd_policy_value& v) {
  Value r{};
  for (int l4 = 0; l4 < WD_L4_COUNT; ++l4) r[l4] = v.portset[l4];
  r[WD_L4_COUNT] = v.flags;
  return r;
}

}  // namespace

void PolicyEntriesWriter::Add(const PolicyKey& k, const wd_policy_value& v) {
  with_values_ = true;
  entries_.emplace_back(k, v);
}

void PolicyEntriesWriter::Add(const PolicyKey& k) { entries_.emplace_back(k, wd_policy_value{}); }

void PolicyEntriesWriter::Write(v1::PolicyEntries* out) {
  std::sort(entries_.begin(), entries_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<uint32_t> remotes;
  std::vector<Value> values;
  for (const auto& [k, v] : entries_) {
    remotes.push_back(k.remote);
    if (with_values_) values.push_back(Row(v));
  }
  std::sort(remotes.begin(), remotes.end());
  remotes.erase(std::unique(remotes.begin(), remotes.end()), remotes.end());
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  absl::flat_hash_map<uint32_t, uint32_t> remote_index;
  uint32_t prev = 0;
  for (size_t i = 0; i < remotes.size(); ++i) {
    remote_index[remotes[i]] = static_cast<uint32_t>(i);
    out->add_remote_steps(remotes[i] - prev);
    prev = remotes[i];
  }
  absl::flat_hash_map<Value, uint32_t> value_index;
  for (size_t i = 0; i < values.size(); ++i) {
    value_index[values[i]] = static_cast<uint32_t>(i);
    out->add_tcp_portset(values[i][WD_L4_TCP]);
    out->add_udp_portset(values[i][WD_L4_UDP]);
    out->add_sctp_portset(values[i][WD_L4_SCTP]);
    out->add_flags(values[i][WD_L4_COUNT]);
  }
  for (size_t i = 0; i < entries_.size();) {
    const uint32_t local = entries_[i].first.local;
    uint32_t n = 0;
    for (; i < entries_.size() && entries_[i].first.local == local; ++i, ++n) {
      const auto& [k, v] = entries_[i];
      out->add_remote_of(2 * remote_index.at(k.remote) + (k.direction == WD_DIR_EGRESS ? 1 : 0));
      if (with_values_) out->add_value_of(value_index.at(Row(v)));
    }
    out->add_locals(local);
    out->add_local_counts(n);
  }
}

absl::Status ReadPolicyEntries(
    const v1::PolicyEntries& in, const std::string& field, bool removals,
    const std::function<void(const PolicyKey&, const std::optional<wd_policy_value>&)>& fn) {
  auto bad = [&](const std::string& m) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".", m));
  };
  if (in.locals_size() != in.local_counts_size())
    return bad(absl::StrCat("local_counts: ", in.local_counts_size(), " counts for ",
                            in.locals_size(), " local identities"));
  uint64_t total = 0;
  for (int i = 0; i < in.locals_size(); ++i) {
    if (!common::IsPodIdentity(in.locals(i)))
      return bad(absl::StrCat("locals[", i, "]: ", in.locals(i), " is not a pod identity"));
    total += in.local_counts(i);
  }
  if (total != static_cast<uint64_t>(in.remote_of_size()))
    return bad(
        absl::StrCat("remote_of: ", in.remote_of_size(), " entries, the counts say ", total));
  std::vector<uint32_t> remotes;
  uint64_t id = 0;
  for (int i = 0; i < in.remote_steps_size(); ++i) {
    id += in.remote_steps(i);
    if (id == WD_ID_NONE || id > UINT32_MAX)
      return bad(absl::StrCat("remote_steps[", i, "]: ", id, " is not a remote identity"));
    remotes.push_back(static_cast<uint32_t>(id));
  }
  for (int i = 0; i < in.remote_of_size(); ++i) {
    if (in.remote_of(i) / 2 >= remotes.size())
      return bad(absl::StrCat("remote_of[", i, "]: ", in.remote_of(i), " is past the remotes"));
  }
  std::vector<wd_policy_value> values;
  if (removals) {
    if (in.value_of_size() || in.tcp_portset_size())
      return bad("value_of: a list of removals carries no values");
  } else {
    const int rows = in.tcp_portset_size();
    if (in.udp_portset_size() != rows || in.sctp_portset_size() != rows || in.flags_size() != rows)
      return bad(absl::StrCat("tcp_portset, udp_portset, sctp_portset, flags: ", rows, ", ",
                              in.udp_portset_size(), ", ", in.sctp_portset_size(), " and ",
                              in.flags_size(), " rows"));
    for (int r = 0; r < rows; ++r) {
      const uint32_t sets[] = {in.tcp_portset(r), in.udp_portset(r), in.sctp_portset(r)};
      wd_policy_value v{};
      for (int l4 = 0; l4 < WD_L4_COUNT; ++l4) {
        if (sets[l4] > 0xffff)
          return bad(absl::StrCat("row ", r, ": port set ", sets[l4], " is not a port set id"));
        v.portset[l4] = static_cast<uint16_t>(sets[l4]);
      }
      if (in.flags(r) & ~uint32_t{WD_POLICY_OTHER_L4})
        return bad(absl::StrCat("flags[", r, "]: unknown bits ", in.flags(r)));
      v.flags = static_cast<uint16_t>(in.flags(r));
      values.push_back(v);
    }
    if (in.value_of_size() != in.remote_of_size())
      return bad(absl::StrCat("value_of: ", in.value_of_size(), " values for ", in.remote_of_size(),
                              " entries"));
    for (int i = 0; i < in.value_of_size(); ++i) {
      if (in.value_of(i) >= values.size())
        return bad(absl::StrCat("value_of[", i, "]: ", in.value_of(i), " is past the table"));
    }
  }
  int e = 0;
  for (int i = 0; i < in.locals_size(); ++i) {
    for (uint32_t j = 0; j < in.local_counts(i); ++j, ++e) {
      const uint32_t r = in.remote_of(e);
      PolicyKey k{in.locals(i), remotes[r / 2],
                  static_cast<uint8_t>(r % 2 ? WD_DIR_EGRESS : WD_DIR_INGRESS)};
      fn(k, removals ? std::nullopt : std::optional<wd_policy_value>(values[in.value_of(e)]));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden::nodestate
