#include "agent/nodestate/ipcache_wire.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "agent/common/abi.h"

namespace warden::nodestate {

namespace {

using policy::Family;
using policy::IpAddress;

uint32_t V4(const IpAddress& a) {
  return (uint32_t{a.bytes[0]} << 24) | (uint32_t{a.bytes[1]} << 16) | (uint32_t{a.bytes[2]} << 8) |
         a.bytes[3];
}

IpAddress FromV4(uint32_t v) {
  IpAddress a;
  a.bytes[0] = static_cast<uint8_t>(v >> 24);
  a.bytes[1] = static_cast<uint8_t>(v >> 16);
  a.bytes[2] = static_cast<uint8_t>(v >> 8);
  a.bytes[3] = static_cast<uint8_t>(v);
  return a;
}

using Value = std::tuple<uint32_t, uint32_t, uint32_t>;  // identity, CIDR, namespace

Value Key(const wd_ipcache_value& v) { return {v.identity, v.cidr_identity, v.ns_identity}; }

// The index of each distinct value of a column, in ascending order of the values.
template <typename T>
absl::flat_hash_map<T, uint32_t> Indexes(std::vector<T> values, std::vector<T>* sorted) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  absl::flat_hash_map<T, uint32_t> out;
  for (size_t i = 0; i < values.size(); ++i) out[values[i]] = static_cast<uint32_t>(i);
  *sorted = std::move(values);
  return out;
}

}  // namespace

void IpcacheHostsWriter::Add(const IpAddress& a, const wd_ipcache_value& v) {
  with_values_ = true;
  (a.family == Family::kV4 ? v4_ : v6_).push_back({a, v});
}

void IpcacheHostsWriter::Add(const IpAddress& a) {
  (a.family == Family::kV4 ? v4_ : v6_).push_back({a, wd_ipcache_value{}});
}

void IpcacheHostsWriter::Write(v1::IpcacheHosts* out) {
  auto by_addr = [](const Row& x, const Row& y) { return x.addr < y.addr; };
  std::sort(v4_.begin(), v4_.end(), by_addr);
  std::sort(v6_.begin(), v6_.end(), by_addr);
  uint32_t prev = 0;
  for (const Row& r : v4_) {
    out->add_ipv4_steps(V4(r.addr) - prev);
    prev = V4(r.addr);
  }
  std::string v6;
  v6.reserve(v6_.size() * 16);
  for (const Row& r : v6_) v6.append(reinterpret_cast<const char*>(r.addr.bytes.data()), 16);
  out->set_ipv6(std::move(v6));
  if (!with_values_) return;
  // The value table: rows ascending (by identity first), CIDR and namespace identities as
  // indexes into their own short lists.
  std::vector<Value> rows;
  std::vector<uint32_t> cidrs, nss;
  for (const auto* list : {&v4_, &v6_}) {
    for (const Row& r : *list) {
      rows.push_back(Key(r.value));
      cidrs.push_back(r.value.cidr_identity);
      nss.push_back(r.value.ns_identity);
    }
  }
  std::vector<Value> table;
  std::vector<uint32_t> cidr_list, ns_list;
  absl::flat_hash_map<Value, uint32_t> row_of = Indexes(std::move(rows), &table);
  absl::flat_hash_map<uint32_t, uint32_t> cidr_of = Indexes(std::move(cidrs), &cidr_list);
  absl::flat_hash_map<uint32_t, uint32_t> ns_of = Indexes(std::move(nss), &ns_list);
  uint32_t prev_id = 0;
  for (const Value& v : table) {
    out->add_identity_steps(std::get<0>(v) - prev_id);
    prev_id = std::get<0>(v);
    out->add_cidr_of(cidr_of.at(std::get<1>(v)));
    out->add_ns_of(ns_of.at(std::get<2>(v)));
  }
  for (uint32_t c : cidr_list) out->add_cidr_identities(c);
  for (uint32_t n : ns_list) out->add_ns_identities(n);
  for (const auto* list : {&v4_, &v6_}) {
    for (const Row& r : *list) out->add_value_of(row_of.at(Key(r.value)));
  }
}

absl::Status CheckNamespaceIdentity(uint32_t identity, uint32_t ns, const std::string& field) {
  if (ns == WD_ID_NONE) return absl::OkStatus();
  if (!common::IsNamespaceIdentity(ns))
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", ns, " is not a namespace identity"));
  if (!common::IsPodIdentity(identity))
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": only a pod address has a namespace identity"));
  return absl::OkStatus();
}

absl::Status ReadIpcacheHosts(
    const v1::IpcacheHosts& in, const std::string& field, bool removals,
    const std::function<void(const IpAddress&, const std::optional<wd_ipcache_value>&)>& fn) {
  auto bad = [&](const std::string& m) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".", m));
  };
  if (in.ipv6().size() % 16 != 0)
    return bad(
        absl::StrCat("ipv6: ", in.ipv6().size(), " bytes is not a whole number of addresses"));
  const size_t n4 = in.ipv4_steps_size(), n = n4 + in.ipv6().size() / 16;
  // The table, checked whole before anything is handed on.
  std::vector<wd_ipcache_value> table;
  if (removals) {
    if (in.value_of_size() || in.identity_steps_size() || in.cidr_of_size() || in.ns_of_size())
      return bad("value_of: a list of removals carries no identities");
  } else {
    if (static_cast<size_t>(in.value_of_size()) != n)
      return bad(absl::StrCat("value_of: ", in.value_of_size(), " rows for ", n, " addresses"));
    const int rows = in.identity_steps_size();
    if (in.cidr_of_size() != rows || in.ns_of_size() != rows)
      return bad(absl::StrCat("identity_steps, cidr_of, ns_of: ", rows, ", ", in.cidr_of_size(),
                              " and ", in.ns_of_size(), " rows"));
    uint64_t id = 0;
    for (int r = 0; r < rows; ++r) {
      id += in.identity_steps(r);
      if (id > UINT32_MAX) return bad(absl::StrCat("identity_steps[", r, "]: past 2^32"));
      if (in.cidr_of(r) >= static_cast<uint32_t>(in.cidr_identities_size()))
        return bad(absl::StrCat("cidr_of[", r, "]: ", in.cidr_of(r), " is past cidr_identities"));
      if (in.ns_of(r) >= static_cast<uint32_t>(in.ns_identities_size()))
        return bad(absl::StrCat("ns_of[", r, "]: ", in.ns_of(r), " is past ns_identities"));
      const uint32_t ns = in.ns_identities(static_cast<int>(in.ns_of(r)));
      if (absl::Status st = CheckNamespaceIdentity(static_cast<uint32_t>(id), ns,
                                                   absl::StrCat(field, ".ns_of[", r, "]"));
          !st.ok())
        return st;
      table.push_back(wd_ipcache_value{static_cast<uint32_t>(id),
                                       in.cidr_identities(static_cast<int>(in.cidr_of(r))), ns});
    }
    for (int i = 0; i < in.value_of_size(); ++i) {
      if (in.value_of(i) >= table.size())
        return bad(absl::StrCat("value_of[", i, "]: ", in.value_of(i), " is past the table"));
    }
  }
  uint64_t addr = 0;
  for (size_t i = 0; i < n4; ++i) {
    addr += in.ipv4_steps(static_cast<int>(i));
    if (addr > UINT32_MAX) return bad(absl::StrCat("ipv4_steps[", i, "]: past 255.255.255.255"));
  }
  auto value = [&](size_t i) -> std::optional<wd_ipcache_value> {
    if (removals) return std::nullopt;
    return table[in.value_of(static_cast<int>(i))];
  };
  addr = 0;
  for (size_t i = 0; i < n4; ++i) {
    addr += in.ipv4_steps(static_cast<int>(i));
    fn(FromV4(static_cast<uint32_t>(addr)), value(i));
  }
  for (size_t i = n4; i < n; ++i) {
    IpAddress a;
    a.family = Family::kV6;
    std::memcpy(a.bytes.data(), in.ipv6().data() + (i - n4) * 16, 16);
    fn(a, value(i));
  }
  return absl::OkStatus();
}

}  // namespace warden::nodestate
