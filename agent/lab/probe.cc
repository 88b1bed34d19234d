#include "agent/lab/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"
#include "agent/common/netns.h"
#include "agent/common/status_macros.h"

namespace warden::lab {

namespace {

bool ToSockaddr(const std::string& ip, int port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof(*ss));
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

int64_t MsLeft(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                               std::chrono::steady_clock::now())
      .count();
}

ProbeResult Fail(ProbeOutcome o, const std::string& d) { return ProbeResult{o, d}; }

ProbeResult FromErrno(int err, const char* what) {
  if (err == EPERM || err == EACCES)
    return Fail(ProbeOutcome::kRefusedByPolicy, absl::StrCat(what, ": EPERM (refused by policy)"));
  if (err == ECONNREFUSED)
    return Fail(ProbeOutcome::kRefused,
                absl::StrCat(what, ": connection refused (nothing listens)"));
  if (err == ETIMEDOUT) return Fail(ProbeOutcome::kTimeout, absl::StrCat(what, ": timed out"));
  return Fail(ProbeOutcome::kError, absl::StrCat(what, ": ", std::strerror(err)));
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool WaitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, static_cast<int>(std::max<int64_t>(0, MsLeft(deadline)))) > 0;
}

// A non-blocking TCP socket connected to ip:port before the deadline, or why not (EPERM: the
// connect hook refused it).
struct Connected {
  int fd = -1;
  ProbeResult failure;
};
Connected ConnectTcp(const std::string& ip, int port,
                     std::chrono::steady_clock::time_point deadline) {
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(ip, port, &ss, &len))
    return {-1, Fail(ProbeOutcome::kError, "bad address " + ip)};
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return {-1, FromErrno(errno, "socket")};
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    ProbeResult r = FromErrno(errno, "connect");
    close(fd);
    return {-1, r};
  }
  if (!WaitFor(fd, POLLOUT, deadline)) {
    close(fd);
    return {-1, Fail(ProbeOutcome::kTimeout, "connect: no answer in time")};
  }
  int err = 0;
  socklen_t el = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
  if (err != 0) {
    close(fd);
    return {-1, FromErrno(err, "connect")};
  }
  return {fd, {}};
}

}  // namespace

const char* OutcomeName(ProbeOutcome o) {
  switch (o) {
    case ProbeOutcome::kConnected:
      return "connected";
    case ProbeOutcome::kRefusedByPolicy:
      return "eperm";
    case ProbeOutcome::kTimeout:
      return "timeout";
    case ProbeOutcome::kRefused:
      return "refused";
    case ProbeOutcome::kError:
      return "error";
  }
  return "?";
}

absl::Status EnterPlace(const std::string& cgroup, const std::string& netns) {
  if (!cgroup.empty()) {
    if (auto st = common::MoveToCgroup(cgroup, getpid()); !st.ok()) return st;
  }
  if (!netns.empty()) return common::EnterNetns(netns);
  return absl::OkStatus();
}

ProbeResult ProbeTcp(const std::string& ip, int port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Connected c = ConnectTcp(ip, port, deadline);
  if (c.fd < 0) return c.failure;
  const int fd = c.fd;
  ProbeResult r;
  char out = 'w', in = 0;
  if (send(fd, &out, 1, MSG_NOSIGNAL) != 1) {
    r = FromErrno(errno, "send");
    close(fd);
    return r;
  }
  if (!WaitFor(fd, POLLIN, deadline)) {
    close(fd);
    return Fail(ProbeOutcome::kTimeout, "connected, but no echo in time");
  }
  ssize_t got = recv(fd, &in, 1, 0);
  close(fd);
  if (got == 1 && in == out)
    return ProbeResult{ProbeOutcome::kConnected, "connected and echoed one byte"};
  return Fail(ProbeOutcome::kError, "connected, but the echo was wrong");
}

ProbeResult ProbeUdp(const std::string& ip, int port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(ip, port, &ss, &len)) return Fail(ProbeOutcome::kError, "bad address " + ip);
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return FromErrno(errno, "socket");
  // Unconnected sendto (sendmsg hook); the reply must come back from the address probed.
  const char msg[] = "warden-probe";
  ProbeResult r = Fail(ProbeOutcome::kTimeout, "no reply in time");
  int64_t interval = std::max<int64_t>(50, timeout_ms / 4);
  while (MsLeft(deadline) > 0) {
    if (sendto(fd, msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
      r = FromErrno(errno, "sendto");
      break;
    }
    pollfd p{fd, POLLIN, 0};
    int n =
        poll(&p, 1,
             static_cast<int>(std::min<int64_t>(interval, std::max<int64_t>(0, MsLeft(deadline)))));
    if (n > 0) {
      char buf[64];
      sockaddr_storage from;
      socklen_t fl = sizeof(from);
      ssize_t got = recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (got == static_cast<ssize_t>(sizeof(msg)) && std::memcmp(buf, msg, sizeof(msg)) == 0) {
        r = ProbeResult{ProbeOutcome::kConnected, "datagram echoed"};
        break;
      }
      if (got < 0) {
        r = FromErrno(errno, "recvfrom");
        if (r.outcome != ProbeOutcome::kRefused) break;
      }
    }
  }
  close(fd);
  return r;
}

ProbeResult ProbeHttp(const std::string& ip, int port, const std::string& host,
                      const std::string& path, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Connected c = ConnectTcp(ip, port, deadline);
  if (c.fd < 0) return c.failure;
  const int fd = c.fd;
  ProbeResult r = Fail(ProbeOutcome::kTimeout, "no answer in time");
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host, "\r\nConnection: close\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    r = FromErrno(errno, "send");
    close(fd);
    return r;
  }
  std::string got;
  while (got.find("\r\n") == std::string::npos && got.size() < 512) {
    if (!WaitFor(fd, POLLIN, deadline)) break;
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      r = FromErrno(errno, "recv");
      break;
    }
    if (n == 0) {
      r = Fail(ProbeOutcome::kRefused, "closed before an answer");
      break;
    }
    got.append(buf, n);
  }
  close(fd);
  size_t eol = got.find("\r\n");
  int status = 0;
  if (eol != std::string::npos && got.starts_with("HTTP/1.") && eol >= 12 &&
      absl::SimpleAtoi(got.substr(9, 3), &status)) {
    r = ProbeResult{ProbeOutcome::kConnected, got.substr(0, eol), status};
  }
  return r;
}

ProbeResult ProbeIn(const std::string& cgroup, const std::string& netns,
                    const std::function<ProbeResult()>& probe) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Fail(ProbeOutcome::kError, "pipe failed");
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]);
    close(pipefd[1]);
    return Fail(ProbeOutcome::kError, "fork failed");
  }
  if (pid == 0) {
    close(pipefd[0]);
    ProbeResult r;
    if (auto st = EnterPlace(cgroup, netns); !st.ok()) {
      r = Fail(ProbeOutcome::kError, std::string(st.message()));
    } else {
      r = probe();
    }
    std::string msg = absl::StrCat(static_cast<int>(r.outcome), " ", r.http_status, "\n", r.detail);
    ssize_t w = write(pipefd[1], msg.data(), msg.size());
    (void)w;
    _exit(0);
  }
  close(pipefd[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  size_t nl = out.find('\n');
  int outcome = 0, http_status = 0;
  if (nl == std::string::npos ||
      std::sscanf(out.substr(0, nl).c_str(), "%d %d", &outcome, &http_status) != 2)
    return Fail(ProbeOutcome::kError, "probe process died");
  return ProbeResult{static_cast<ProbeOutcome>(outcome), out.substr(nl + 1), http_status};
}

ProbeResult ProbeFrom(const std::string& cgroup, const std::string& netns, const std::string& ip,
                      int port, bool udp, int timeout_ms) {
  return ProbeIn(cgroup, netns, [&] {
    return udp ? ProbeUdp(ip, port, timeout_ms) : ProbeTcp(ip, port, timeout_ms);
  });
}

namespace {

// A socket on `port` of every address, IPv4 and IPv6; listening when `tcp`.
absl::StatusOr<int> ListenOn(int port, bool tcp) {
  int fd = socket(AF_INET6, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int zero = 0, one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));  // IPv4 and IPv6
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // A server bound to one address of the port (the internet's nginx, on its HTTPS hosts' own
  // addresses) may share it: the kernel gives each connection the most specific listener.
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  a.sin6_addr = in6addr_any;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return absl::InternalError(
        absl::StrCat(tcp ? "TCP" : "UDP", " port ", port, ": ", std::strerror(errno)));
  }
  if (tcp && listen(fd, 128) != 0)
    return absl::InternalError(absl::StrCat("listen ", port, ": ", std::strerror(errno)));
  return fd;
}

// An address of a dual-stack socket, IPv4 ones unmapped ("10.0.0.1", not "::ffff:10.0.0.1").
std::pair<std::string, int> AddressOf(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    return {text, ntohs(a->sin_port)};
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
    inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
  }
  return {text, ntohs(a->sin6_port)};
}

// One kAcceptedWord line on stdout (the server's log), written whole.
void LogAccepted(const char* proto, const std::string& local_ip, int local_port,
                 const sockaddr_storage& peer) {
  auto [peer_ip, peer_port] = AddressOf(peer);
  std::string line = absl::StrCat(kAcceptedWord, " ", proto, " ", local_ip, " ", local_port, " ",
                                  peer_ip, " ", peer_port, "\n");
  ssize_t w = write(STDOUT_FILENO, line.data(), line.size());
  (void)w;
}

// One connection: one byte back, then close; a short receive timeout so a silent client cannot
// stall the server.
void EchoTcp(int listener) {
  sockaddr_storage peer{}, local{};
  socklen_t pl = sizeof(peer), ll = sizeof(local);
  int c = accept4(listener, reinterpret_cast<sockaddr*>(&peer), &pl, SOCK_CLOEXEC);
  if (c < 0) return;
  if (getsockname(c, reinterpret_cast<sockaddr*>(&local), &ll) == 0) {
    auto [local_ip, local_port] = AddressOf(local);
    LogAccepted("tcp", local_ip, local_port, peer);
  }
  timeval tv{0, 500000};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char b;
  if (recv(c, &b, 1, 0) == 1) {
    ssize_t w = send(c, &b, 1, MSG_NOSIGNAL);
    (void)w;
  }
  close(c);
}

// Every datagram waiting, back to its sender.
void EchoUdp(int fd, int port) {
  char buf[2048];
  sockaddr_storage from;
  socklen_t fl = sizeof(from);
  ssize_t n;
  while ((n = recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fl)) > 0) {
    LogAccepted("udp", "*", port, from);
    ssize_t w = sendto(fd, buf, n, 0, reinterpret_cast<sockaddr*>(&from), fl);
    (void)w;
    fl = sizeof(from);
  }
}

}  // namespace

absl::Status ServeForever(const std::vector<int>& tcp_ports, const std::vector<int>& udp_ports) {
  std::vector<pollfd> fds;
  std::vector<bool> is_tcp;
  std::vector<int> ports;
  for (bool tcp : {true, false}) {
    for (int p : tcp ? tcp_ports : udp_ports) {
      WD_ASSIGN_OR_RETURN(int fd, ListenOn(p, tcp));
      fds.push_back(pollfd{fd, POLLIN, 0});
      is_tcp.push_back(tcp);
      ports.push_back(p);
    }
  }
  // `lab up` waits for this line: a probe sent before the sockets exist would be refused.
  std::cout << kServingLine << std::endl;
  while (true) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      if (is_tcp[i]) {
        EchoTcp(fds[i].fd);
      } else {
        EchoUdp(fds[i].fd, ports[i]);
      }
    }
  }
}

}  // namespace warden::lab
