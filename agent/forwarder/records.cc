#include "agent/forwarder/records.h"

#include <cstring>

#include "agent/datapath/bpf_datapath.h"

namespace warden::forwarder {

namespace {

class Datapath : public FlowRecords {
 public:
  explicit Datapath(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::optional<Record>> Take(const policy::IpAddress& src, uint16_t port) override {
    if (src.family != policy::Family::kV4) return std::nullopt;  // IPv4 connects only
    if (!records_) {
      auto r = datapath::ForwardRecords::Open(dir_);
      if (!r.ok()) return r.status();
      records_ = std::move(*r);
    }
    wd_fwd_key k{};
    k.family = WD_AF_INET;
    k.port = port;
    std::memcpy(k.addr, src.bytes.data(), 4);
    auto taken = records_->Take(k);
    if (!taken.ok()) return taken.status();
    if (!taken->has_value()) return std::nullopt;
    const wd_fwd_record& w = **taken;
    Record r;
    r.cgroup_id = w.cgroup_id;
    r.cookie = w.cookie;
    r.identity = w.identity;
    r.original_ip.family = w.orig_family == WD_AF_INET6 ? policy::Family::kV6 : policy::Family::kV4;
    std::memcpy(r.original_ip.bytes.data(), w.orig_addr,
                r.original_ip.family == policy::Family::kV4 ? 4 : 16);
    r.original_port = w.orig_port;
    return r;
  }

 private:
  std::string dir_;
  std::unique_ptr<datapath::ForwardRecords> records_;
};

}  // namespace

std::unique_ptr<FlowRecords> DatapathRecords(std::string bpffs_dir) {
  return std::make_unique<Datapath>(std::move(bpffs_dir));
}

}  // namespace warden::forwarder
