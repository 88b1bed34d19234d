#include "agent/node/pod_netns_interface.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"

namespace warden::node {
namespace {

absl::Status Errno(const std::string& what) { return absl::ErrnoToStatus(errno, what); }

struct Link {
  uint32_t ifindex = 0;
  uint32_t peer = 0;            // IFLA_LINK: the index of a veth's other end (in its namespace)
  bool peer_elsewhere = false;  // IFLA_LINK_NETNSID: that end is in another namespace
};

struct Address {
  uint32_t ifindex = 0;
  policy::IpAddress ip;
};

using Socket = std::unique_ptr<mnl_socket, decltype(&mnl_socket_close)>;

absl::StatusOr<Socket> OpenRtnetlink() {
  Socket nl(mnl_socket_open(NETLINK_ROUTE), &mnl_socket_close);
  if (!nl) return Errno("rtnetlink socket");
  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return Errno("rtnetlink bind");
  // The kernel answers at once; a lost answer must not stall the agent's reconcile.
  timeval timeout{2, 0};
  if (setsockopt(mnl_socket_get_fd(nl.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) !=
      0)
    return Errno("rtnetlink receive timeout");
  return nl;
}

// Sends one rtnetlink request (a dump when `dump`) and runs `cb` on every message of the answer.
absl::Status Ask(mnl_socket* nl, nlmsghdr* request, mnl_cb_t cb, void* data) {
  static std::atomic<uint32_t> next_seq{1};
  uint32_t seq = request->nlmsg_seq = next_seq.fetch_add(1, std::memory_order_relaxed);
  if (mnl_socket_sendto(nl, request, request->nlmsg_len) < 0) return Errno("rtnetlink send");
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  uint32_t portid = mnl_socket_get_portid(nl);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) return Errno("rtnetlink receive");
    int r = mnl_cb_run(buf.data(), n, seq, portid, cb, data);
    if (r < 0) return Errno("rtnetlink answer");
    // A dump ends with NLMSG_DONE (MNL_CB_STOP); any other answer is one message.
    if (r == MNL_CB_STOP || !(request->nlmsg_flags & NLM_F_DUMP)) return absl::OkStatus();
  }
}

int LinkAttribute(const nlattr* attr, void* data) {
  auto* link = static_cast<Link*>(data);
  switch (mnl_attr_get_type(attr)) {
    case IFLA_LINK:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0) link->peer = mnl_attr_get_u32(attr);
      break;
    case IFLA_LINK_NETNSID:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0) link->peer_elsewhere = true;
      break;
  }
  return MNL_CB_OK;
}

int OnLink(const nlmsghdr* nlh, void* data) {
  auto* links = static_cast<std::vector<Link>*>(data);
  if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  Link link;
  link.ifindex = static_cast<uint32_t>(ifi->ifi_index);
  mnl_attr_parse(nlh, sizeof(*ifi), LinkAttribute, &link);
  links->push_back(link);
  return MNL_CB_OK;
}

struct AddressParse {
  const ifaddrmsg* ifa;
  std::vector<Address>* out;
};

int AddressAttribute(const nlattr* attr, void* data) {
  auto* p = static_cast<AddressParse*>(data);
  if (mnl_attr_get_type(attr) != IFA_ADDRESS) return MNL_CB_OK;
  Address a;
  a.ifindex = p->ifa->ifa_index;
  size_t len = mnl_attr_get_payload_len(attr);
  if (p->ifa->ifa_family == AF_INET && len == 4) {
    a.ip.family = policy::Family::kV4;
  } else if (p->ifa->ifa_family == AF_INET6 && len == 16) {
    a.ip.family = policy::Family::kV6;
  } else {
    return MNL_CB_OK;
  }
  std::memcpy(a.ip.bytes.data(), mnl_attr_get_payload(attr), len);
  p->out->push_back(a);
  return MNL_CB_OK;
}

int OnAddress(const nlmsghdr* nlh, void* data) {
  if (nlh->nlmsg_type != RTM_NEWADDR) return MNL_CB_OK;
  AddressParse p{static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh)),
                 static_cast<std::vector<Address>*>(data)};
  mnl_attr_parse(nlh, sizeof(ifaddrmsg), AddressAttribute, &p);
  return MNL_CB_OK;
}

// Every link of this thread's network namespace (or only `ifindex`'s when not 0).
absl::StatusOr<std::vector<Link>> Links(mnl_socket* nl, uint32_t ifindex = 0) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | (ifindex ? 0 : NLM_F_DUMP);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = static_cast<int>(ifindex);
  std::vector<Link> links;
  if (absl::Status st = Ask(nl, nlh, OnLink, &links); !st.ok()) return st;
  return links;
}

absl::StatusOr<std::vector<Address>> Addresses(mnl_socket* nl) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_UNSPEC;
  std::vector<Address> addresses;
  if (absl::Status st = Ask(nl, nlh, OnAddress, &addresses); !st.ok()) return st;
  return addresses;
}

// In the pod's namespace: the pod's end (its index) and the peer's index of the veth holding
// one of `wanted`.
absl::StatusOr<Link> PodEnd(const std::vector<policy::IpAddress>& wanted) {
  absl::StatusOr<Socket> nl = OpenRtnetlink();
  if (!nl.ok()) return nl.status();
  absl::StatusOr<std::vector<Address>> addresses = Addresses(nl->get());
  if (!addresses.ok()) return addresses.status();
  absl::StatusOr<std::vector<Link>> links = Links(nl->get());
  if (!links.ok()) return links.status();
  for (const Address& a : *addresses) {
    bool pods = false;
    for (const auto& w : wanted) pods = pods || a.ip == w;
    if (!pods) continue;
    for (const Link& l : *links) {
      if (l.ifindex == a.ifindex && l.peer != 0 && l.peer_elsewhere) return l;
    }
  }
  return absl::NotFoundError("no interface of the pod's addresses has a peer in another namespace");
}

}  // namespace

absl::StatusOr<uint32_t> PeerInterfaceOf(pid_t pid,
                                         const std::vector<policy::IpAddress>& addresses) {
  std::string ns_path = absl::StrCat("/proc/", pid, "/ns/net");
  int fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(ns_path, ": ", std::strerror(errno)));
  // setns(CLONE_NEWNET) moves only the calling thread: a thread of its own, ended after.
  absl::StatusOr<Link> pod_end = absl::InternalError("not run");
  std::thread inside([&] {
    if (setns(fd, CLONE_NEWNET) != 0) {
      pod_end = Errno(absl::StrCat("joining ", ns_path));
      return;
    }
    pod_end = PodEnd(addresses);
  });
  inside.join();
  close(fd);
  if (!pod_end.ok()) return pod_end.status();

  // Here: the device the pod's end names must exist and name the pod's end back (ifindex numbers
  // are per namespace: an index alone could be any device's).
  absl::StatusOr<Socket> nl = OpenRtnetlink();
  if (!nl.ok()) return nl.status();
  absl::StatusOr<std::vector<Link>> here = Links(nl->get(), pod_end->peer);
  if (!here.ok() || here->size() != 1 || (*here)[0].peer != pod_end->ifindex ||
      !(*here)[0].peer_elsewhere)
    return absl::NotFoundError(absl::StrCat("interface ", pod_end->peer,
                                            " here is not the peer of the pod's interface ",
                                            pod_end->ifindex));
  return pod_end->peer;
}

absl::StatusOr<uint32_t> PodInterfaceFromNetns(const std::string& cgroup,
                                               const std::vector<policy::IpAddress>& addresses) {
  absl::Status last = absl::NotFoundError(absl::StrCat("no process in ", cgroup));
  std::set<ino_t> tried;  // a pod's processes mostly share one namespace: each is asked once
  for (pid_t pid : common::CgroupTreeProcesses(cgroup)) {
    struct stat st;
    if (stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &st) != 0 ||
        !tried.insert(st.st_ino).second)
      continue;
    absl::StatusOr<uint32_t> ifindex = PeerInterfaceOf(pid, addresses);
    if (ifindex.ok()) return ifindex;
    last = ifindex.status();
  }
  return last;
}

}  // namespace warden::node
