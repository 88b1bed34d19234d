// BpfDatapath's interface half: the interface programs (the second line) on the node side of
// each local pod's network interface. tcx links, pinned like the cgroup links so that
// enforcement outlives the agent; clsact filters on kernels without tcx (before 6.6).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/common/status_macros.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/datapath/errno_status.h"

namespace warden::datapath {

namespace {

// From the kernel's uapi (6.6+); Debian 12's headers predate tcx.
constexpr int kBpfTcxIngress = 46;     // BPF_TCX_INGRESS
constexpr int kBpfTcxEgress = 47;      // BPF_TCX_EGRESS
constexpr uint32_t kLinkTypeTcx = 11;  // BPF_LINK_TYPE_TCX

// One direction of one interface: the program, where tc runs it, its pin's suffix. What the pod
// sends arrives at the node side's ingress; what goes to the pod leaves by its egress.
struct Point {
  const char* program;
  int tcx_attach_type;
  bpf_tc_attach_point tc_point;
  const char* pin_suffix;
};
constexpr Point kPoints[] = {
    {kInterfaceEgressProgram, kBpfTcxIngress, BPF_TC_INGRESS, "egress"},
    {kInterfaceIngressProgram, kBpfTcxEgress, BPF_TC_EGRESS, "ingress"},
};

constexpr char kPinPrefix[] = "if";

std::string PinOf(const std::string& bpffs, uint32_t ifindex, const Point& p) {
  return absl::StrCat(bpffs, "/links/", kPinPrefix, ifindex, "-", p.pin_suffix);
}

// A pinned link's program id and interface; ifindex 0 when the interface is gone (the kernel
// detached the link with it) or the pin is not a tcx link.
struct LinkInfo {
  uint32_t prog_id = 0, ifindex = 0;
};
absl::StatusOr<LinkInfo> InfoOf(int fd) {
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return Errno("reading link info", errno);
  LinkInfo li;
  li.prog_id = info.prog_id;
  // The tcx member of the info union ({ifindex, attach_type}) is newer than these headers; its
  // first word sits where xdp.ifindex does.
  if (info.type == kLinkTypeTcx) li.ifindex = info.xdp.ifindex;
  return li;
}

// The clsact filter's program id at `point` of `ifindex` (0: none).
absl::StatusOr<uint32_t> QueryTc(uint32_t ifindex, bpf_tc_attach_point point) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = point);
  LIBBPF_OPTS(bpf_tc_opts, o, .handle = WD_TC_HANDLE, .priority = WD_TC_PRIORITY);
  int err = bpf_tc_query(&hook, &o);
  if (err == -ENOENT || err == -EINVAL || err == -ENODEV) return 0u;  // no qdisc, filter, device
  if (err) return Errno(absl::StrCat("querying tc on interface ", ifindex), -err);
  return o.prog_id;
}

absl::StatusOr<uint32_t> AttachTc(uint32_t ifindex, const Point& p, int prog_fd) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = p.tc_point);
  // The clsact qdisc holds both directions' filters; a CNI's may be there already.
  if (int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST)
    return Errno(absl::StrCat("adding a clsact qdisc to interface ", ifindex), -err);
  // REPLACE swaps the program of an existing filter in place, or makes the filter.
  LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE, .handle = WD_TC_HANDLE,
              .priority = WD_TC_PRIORITY);
  if (int err = bpf_tc_attach(&hook, &o); err != 0)
    return Errno(absl::StrCat("attaching ", p.program, " to interface ", ifindex), -err);
  return o.prog_id;
}

}  // namespace

absl::StatusOr<InterfaceAttachment> BpfDatapath::QueryInterface(uint32_t ifindex) const {
  InterfaceAttachment a;
  a.ifindex = ifindex;
  for (const Point& p : kPoints) {
    uint32_t& id = p.tc_point == BPF_TC_INGRESS ? a.egress_prog_id : a.ingress_prog_id;
    int fd = bpf_obj_get(PinOf(opts_.bpffs_dir, ifindex, p).c_str());
    if (fd >= 0) {
      auto li = InfoOf(fd);
      close(fd);
      if (!li.ok()) return li.status();
      if (li->ifindex == ifindex) {
        id = li->prog_id;
        a.tcx = true;
        continue;
      }
    }
    WD_ASSIGN_OR_RETURN(id, QueryTc(ifindex, p.tc_point));
  }
  return a;
}

absl::StatusOr<InterfaceAttachment> BpfDatapath::AttachInterface(uint32_t ifindex) {
  InterfaceAttachment a;
  a.ifindex = ifindex;
  for (const Point& p : kPoints) {
    uint32_t& id = p.tc_point == BPF_TC_INGRESS ? a.egress_prog_id : a.ingress_prog_id;
    const int prog_fd = ProgramFd(p.program);
    const std::string pin = PinOf(opts_.bpffs_dir, ifindex, p);
    // An earlier agent's link: replace its program in place, if it still holds this interface.
    if (int fd = bpf_obj_get(pin.c_str()); fd >= 0) {
      auto li = InfoOf(fd);
      if (li.ok() && li->ifindex == ifindex) {
        int err = bpf_link_update(fd, prog_fd, nullptr);
        int saved = errno;
        close(fd);
        if (err != 0) return Errno(absl::StrCat("adopting the pinned link ", pin), saved);
        a.tcx = a.replaced = true;
        id = li->prog_id;
        continue;
      }
      // Its interface went away (and the index may now name another): start again.
      close(fd);
      if (unlink(pin.c_str()) != 0 && errno != ENOENT)
        return Errno(absl::StrCat("removing the stale link ", pin), errno);
    }
    LIBBPF_OPTS(bpf_link_create_opts, lo);
    int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex),
                             static_cast<bpf_attach_type>(p.tcx_attach_type), &lo);
    if (fd < 0 && errno == EINVAL) {
      // No tcx in this kernel: a clsact filter, which tc keeps after we exit as well.
      WD_ASSIGN_OR_RETURN(id, AttachTc(ifindex, p, prog_fd));
      continue;
    }
    if (fd < 0)
      return Errno(absl::StrCat("attaching ", p.program, " to interface ", ifindex), errno);
    if (bpf_obj_pin(fd, pin.c_str()) != 0) {
      int saved = errno;
      close(fd);  // the only reference: the link goes with it
      return Errno(absl::StrCat("pinning ", pin), saved);
    }
    auto li = InfoOf(fd);
    close(fd);  // the pin holds the link now
    if (!li.ok()) return li.status();
    id = li->prog_id;
    a.tcx = true;
  }
  return a;
}

absl::Status BpfDatapath::DetachInterface(uint32_t ifindex) {
  for (const Point& p : kPoints) {
    const std::string pin = PinOf(opts_.bpffs_dir, ifindex, p);
    if (int fd = bpf_obj_get(pin.c_str()); fd >= 0) {
      // Detach now, not when the last reference goes (a reader may hold one); a link whose
      // interface is gone is detached already.
      bpf_link_detach(fd);
      close(fd);
    }
    if (unlink(pin.c_str()) != 0 && errno != ENOENT)
      return Errno(absl::StrCat("removing ", pin), errno);
    // A clsact filter (kernels without tcx), only where there is one: libbpf logs a failure.
    WD_ASSIGN_OR_RETURN(uint32_t tc_prog, QueryTc(ifindex, p.tc_point));
    if (!tc_prog) continue;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
                .attach_point = p.tc_point);
    LIBBPF_OPTS(bpf_tc_opts, o, .handle = WD_TC_HANDLE, .priority = WD_TC_PRIORITY);
    int err = bpf_tc_detach(&hook, &o);
    // Gone with its interface, or never there: nothing to take off.
    if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL)
      return Errno(absl::StrCat("detaching ", p.program, " from interface ", ifindex), -err);
  }
  return absl::OkStatus();
}

std::vector<uint32_t> BpfDatapath::PinnedInterfaces() const {
  absl::flat_hash_set<uint32_t> found;
  DIR* d = opendir((opts_.bpffs_dir + "/links").c_str());
  if (!d) return {};
  while (dirent* e = readdir(d)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, kPinPrefix)) continue;
    if (!absl::ConsumeSuffix(&name, "-egress") && !absl::ConsumeSuffix(&name, "-ingress")) continue;
    uint32_t ifindex = 0;
    if (absl::SimpleAtoi(name, &ifindex) && ifindex) found.insert(ifindex);
  }
  closedir(d);
  return std::vector<uint32_t>(found.begin(), found.end());
}

}  // namespace warden::datapath
