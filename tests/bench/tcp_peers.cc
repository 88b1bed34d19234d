#include "tests/bench/tcp_peers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"
#include "tests/bench/bench_failure.h"
#include "tests/lib/child_process.h"
#include "tests/lib/timing.h"

namespace warden::bench {
namespace {

using testlib::Clock;

// What the parent asks the client for: connections to `lane` for `ms` after `warmup_ms`.
struct ClientCmd {
  int32_t ms = 0;  // 0: exit
  int32_t warmup_ms = 0;
  int32_t lane = 0;
};

int OpenNetns(const std::string& name) {
  std::string path = "/var/run/netns/" + name;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Failure(absl::StrCat("opening ", path, ": ", strerror(errno)));
  return fd;
}

sockaddr_in Address(uint32_t host_order, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(host_order);
  return a;
}

// In a child: die with the parent, enter the cgroup, the netns and the CPU.
void EnterChild(const std::string& cgroup, int netns_fd, int cpu) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (!common::MoveToCgroup(cgroup, getpid()).ok()) _exit(10);
  if (setns(netns_fd, CLONE_NEWNET) != 0) _exit(11);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) _exit(12);
}

// In the server: a listening socket of `lane`, made while the process sits in its cgroup.
int ListenOnLane(const Lane& lane, uint32_t addr) {
  if (!common::MoveToCgroup(lane.server_cg, getpid()).ok()) _exit(16);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a = Address(lane.server_addr ? lane.server_addr : addr, lane.port);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(ls, 4096) != 0) _exit(13);
  return ls;
}

// Accepts what is pending on `ls`: each connection echoes one byte and is closed.
void EchoPending(int ls) {
  int c;
  while ((c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) {
    timeval tv{1, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b;
    if (recv(c, &b, 1, 0) == 1) {
      ssize_t w = send(c, &b, 1, MSG_NOSIGNAL);
      (void)w;
    }
    close(c);  // the server closes first: TIME_WAIT stays on the server, no client port runs out
  }
}

[[noreturn]] void ServerMain(const std::vector<Lane>& lanes, int netns_fd, uint32_t addr,
                             int ready_fd) {
  EnterChild(lanes[0].server_cg, netns_fd, 1);
  std::vector<pollfd> fds;
  for (const Lane& lane : lanes) fds.push_back(pollfd{ListenOnLane(lane, addr), POLLIN, 0});
  char ok = 1;
  if (write(ready_fd, &ok, 1) != 1) _exit(14);
  close(ready_fd);
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) <= 0) continue;
    for (auto& p : fds) {
      if (p.revents & POLLIN) EchoPending(p.fd);
    }
  }
}

// One connection: connect, 1 byte each way, the server's FIN, close. Whether all of it worked.
bool OneConnection(const sockaddr_in& srv) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  bool ok = false;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&srv), sizeof(srv)) == 0) {
    char b = 'x', in = 0;
    if (send(fd, &b, 1, MSG_NOSIGNAL) == 1 && recv(fd, &in, 1, 0) == 1 && in == b) {
      ok = recv(fd, &in, 1, 0) == 0;  // the server's FIN
    }
  }
  close(fd);
  return ok;
}

ConnResult ClientRun(const sockaddr_in& srv, std::chrono::milliseconds d) {
  ConnResult r;
  auto t0 = Clock::now();
  auto end = t0 + d;
  while (Clock::now() < end) OneConnection(srv) ? ++r.conns : ++r.errors;
  r.ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  return r;
}

[[noreturn]] void ClientMain(const std::vector<Lane>& lanes, int netns_fd, uint32_t server,
                             int cmd_fd, int res_fd) {
  EnterChild(lanes[0].client_cg, netns_fd, 0);
  // Moving is a write of "0" (this process) to the lane's cgroup.procs, opened once.
  std::vector<int> procs;
  for (const Lane& lane : lanes) {
    int fd = open((lane.client_cg + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) _exit(17);
    procs.push_back(fd);
  }
  int current = 0;
  for (;;) {
    ClientCmd c;
    if (read(cmd_fd, &c, sizeof(c)) != sizeof(c) || c.ms <= 0) _exit(0);
    if (c.lane < 0 || c.lane >= static_cast<int>(lanes.size())) _exit(18);
    if (c.lane != current) {
      if (write(procs[c.lane], "0", 1) != 1) _exit(19);
      current = c.lane;
    }
    const Lane& lane = lanes[c.lane];
    sockaddr_in srv = Address(lane.server_addr ? lane.server_addr : server, lane.port);
    ConnResult w = ClientRun(srv, std::chrono::milliseconds(c.warmup_ms));  // not counted
    ConnResult r = ClientRun(srv, std::chrono::milliseconds(c.ms));
    r.warmup = w.conns;
    if (write(res_fd, &r, sizeof(r)) != sizeof(r)) _exit(15);
  }
}

}  // namespace

TcpPeers::TcpPeers(const std::vector<Lane>& lanes, const std::string& ns_server,
                   const std::string& ns_client, uint32_t server_addr) {
  try {
    netns_s_ = OpenNetns(ns_server);
    netns_c_ = OpenNetns(ns_client);
    if (pipe2(ready_, O_CLOEXEC) != 0 || pipe2(cmd_, O_CLOEXEC) != 0 ||
        pipe2(resp_, O_CLOEXEC) != 0)
      throw Failure("pipe");
    StartServer(lanes, server_addr);
    StartClient(lanes, server_addr);
  } catch (...) {
    Stop();
    throw;
  }
}

void TcpPeers::StartServer(const std::vector<Lane>& lanes, uint32_t server_addr) {
  server_ = fork();
  if (server_ < 0) throw Failure("fork");
  if (server_ == 0) ServerMain(lanes, netns_s_, server_addr, ready_[1]);
  char b;
  if (read(ready_[0], &b, 1) != 1) throw Failure("the server did not start");
}

void TcpPeers::StartClient(const std::vector<Lane>& lanes, uint32_t server_addr) {
  client_ = fork();
  if (client_ < 0) throw Failure("fork");
  if (client_ == 0) ClientMain(lanes, netns_c_, server_addr, cmd_[0], resp_[1]);
}

void TcpPeers::Stop() {
  if (client_ > 0) {
    ClientCmd exit_cmd;
    ssize_t w = write(cmd_[1], &exit_cmd, sizeof(exit_cmd));
    (void)w;
    testlib::EndChild(client_);
    client_ = -1;
  }
  testlib::EndChild(server_);
  server_ = -1;
  for (int* fd :
       {&ready_[0], &ready_[1], &cmd_[0], &cmd_[1], &resp_[0], &resp_[1], &netns_s_, &netns_c_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

TcpPeers::~TcpPeers() { Stop(); }

ConnResult TcpPeers::Run(int ms, int lane, int warmup_ms) {
  ClientCmd c;
  c.ms = ms;
  c.warmup_ms = warmup_ms;
  c.lane = lane;
  if (write(cmd_[1], &c, sizeof(c)) != sizeof(c)) throw Failure("client gone");
  ConnResult r;
  if (read(resp_[0], &r, sizeof(r)) != sizeof(r)) throw Failure("client died");
  return r;
}

}  // namespace warden::bench
