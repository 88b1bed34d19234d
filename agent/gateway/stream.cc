#include "agent/gateway/stream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <boost/system/error_code.hpp>

#include "absl/strings/str_cat.h"
#include "agent/common/openssl_errors.h"
#include "agent/gateway/resolver.h"
#include "agent/gateway/tls.h"

namespace warden::gateway {

error_code ErrnoCode(int err) { return error_code(err, boost::system::generic_category()); }

bool IsTimeout(const error_code& ec) {
  return ec.category() == boost::system::generic_category() && ec.value() == ETIMEDOUT;
}

bool IsEnd(const error_code& ec) {
  return ec.category() == boost::system::generic_category() &&
         (ec.value() == ENODATA || ec.value() == ECONNRESET || ec.value() == EPIPE);
}

namespace {

// The peer ended the stream: ENODATA stands for it (a receive of 0 bytes).
const error_code kEnd = ErrnoCode(ENODATA);

std::string Address(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(a->sin6_port));
  }
  return "";
}

}  // namespace

Socket::~Socket() {
  ring_->Untrack(fd_);
  ::close(fd_);
}

std::string Socket::Remote() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  return Address(ss);
}

std::string Socket::Local() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  return Address(ss);
}

// --- plain TCP ---

Task<Io> PlainStream::ReadSome(char* p, size_t n, Deadline d) {
  int r = co_await s_->ring()->Recv(s_->fd(), p, n, d);
  if (r > 0) co_return Io{static_cast<size_t>(r), {}};
  co_return Io{0, r == 0 ? kEnd : ErrnoCode(-r)};
}

Task<error_code> PlainStream::Write(std::string_view data, Deadline d) {
  out_.assign(data);  // the caller's buffer is not held across the sends
  size_t done = 0;
  while (done < out_.size()) {
    int r = co_await s_->ring()->Send(s_->fd(), out_.data() + done, out_.size() - done, d);
    if (r <= 0) co_return ErrnoCode(r == 0 ? EPIPE : -r);
    done += static_cast<size_t>(r);
  }
  if (out_.capacity() > 65536) std::string().swap(out_);
  co_return error_code{};
}

Task<void> PlainStream::ShutdownSend(Deadline) {
  ::shutdown(s_->fd(), SHUT_WR);
  co_return;
}

// --- TLS ---

BIO_METHOD* TlsStream::Method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* b = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "warden-ring");
    BIO_meth_set_read(b, &TlsStream::BioRead);
    BIO_meth_set_write(b, &TlsStream::BioWrite);
    BIO_meth_set_ctrl(b, &TlsStream::BioCtrl);
    return b;
  }();
  return m;
}

int TlsStream::BioRead(BIO* b, char* out, int len) {
  auto* t = static_cast<TlsStream*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (t->in_len_ == t->in_off_) {
    if (t->eof_) return 0;
    BIO_set_retry_read(b);
    return -1;
  }
  const size_t n = std::min(static_cast<size_t>(len), t->in_len_ - t->in_off_);
  std::memcpy(out, t->in_.data() + t->in_off_, n);
  t->in_off_ += n;
  if (t->in_off_ == t->in_len_) {
    t->in_.Release();  // back to the pool at once
    t->in_off_ = t->in_len_ = 0;
  }
  return static_cast<int>(n);
}

int TlsStream::BioWrite(BIO* b, const char* in, int len) {
  auto* t = static_cast<TlsStream*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  t->out_.append(in, static_cast<size_t>(len));
  return len;
}

long TlsStream::BioCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

TlsStream::TlsStream(std::unique_ptr<Socket> s, SSL* ssl, bool server)
    : s_(std::move(s)), ssl_(ssl) {
  BIO* bio = BIO_new(Method());
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; SSL_free frees it
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

Task<error_code> TlsStream::Fill(Deadline d, bool idle) {
  int r = co_await s_->ring()->RecvPooled(s_->fd(), d, &in_, idle);
  // Every pooled buffer is held (by connections whose bytes wait to be used): one of its own.
  if (r == -ENOBUFS) r = co_await s_->ring()->RecvOwn(s_->fd(), d, &in_, idle);
  if (r > 0) {
    in_off_ = 0;
    in_len_ = static_cast<size_t>(r);
    co_return error_code{};
  }
  if (r == 0) {
    eof_ = true;
    co_return error_code{};
  }
  co_return ErrnoCode(-r);
}

Task<error_code> TlsStream::Flush(Deadline d) {
  size_t done = 0;
  error_code ec;
  while (done < out_.size()) {
    int r = co_await s_->ring()->Send(s_->fd(), out_.data() + done, out_.size() - done, d);
    if (r <= 0) {
      ec = ErrnoCode(r == 0 ? EPIPE : -r);
      break;
    }
    done += static_cast<size_t>(r);
  }
  out_.clear();
  if (out_.capacity() > 65536) std::string().swap(out_);
  co_return ec;
}

error_code TlsStream::Failed(int ret) {
  const int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_ZERO_RETURN) return kEnd;  // close_notify
  details_ = common::OpenSslErrors();
  if (eof_ && (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_WANT_READ ||
               details_.find("unexpected eof") != std::string::npos))
    return kEnd;  // ended without close_notify: the stream is over all the same
  if (details_.empty()) details_ = absl::StrCat("SSL error ", err);
  return ErrnoCode(EPROTO);
}

Task<error_code> TlsStream::Handshake(Deadline d) {
  ERR_clear_error();  // from here on, every failure drains the queue (Failed)
  while (true) {
    const int r = SSL_do_handshake(ssl_);
    if (!out_.empty()) {
      // The handshake's flight goes out even when the handshake failed (the alert says why).
      error_code ec = co_await Flush(d);
      if (ec && r == 1) co_return ec;
    }
    if (r == 1) {
      std::string().swap(out_);  // the handshake's flight was the largest write it will see
      co_return error_code{};
    }
    if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ && !eof_) {
      error_code ec = co_await Fill(d);
      if (ec) co_return ec;
      continue;
    }
    error_code ec = Failed(r);
    co_return ec == kEnd ? ErrnoCode(ECONNRESET) : ec;
  }
}

Task<Io> TlsStream::ReadSome(char* p, size_t n, Deadline d) {
  while (true) {
    const int r = SSL_read(ssl_, p, static_cast<int>(std::min<size_t>(n, 1 << 30)));
    if (!out_.empty()) {
      // What reading made OpenSSL send (a key update's answer, session tickets).
      error_code ec = co_await Flush(d);
      if (ec) co_return Io{0, ec};
    }
    if (r > 0) co_return Io{static_cast<size_t>(r), {}};
    if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ && !eof_) {
      error_code ec = co_await Fill(d);
      if (ec) co_return Io{0, ec};
      continue;
    }
    co_return Io{0, Failed(r)};
  }
}

Task<error_code> TlsStream::Write(std::string_view data, Deadline d) {
  if (!data.empty()) {
    // The memory BIO never refuses, so the whole of `data` is encrypted here, before suspending.
    const int r = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
    if (r <= 0) {
      out_.clear();
      co_return Failed(r);
    }
  }
  co_return co_await Flush(d);
}

Task<error_code> TlsStream::WaitReadable(Deadline d, bool idle) {
  if (in_off_ < in_len_ || SSL_pending(ssl_) > 0 || eof_) co_return error_code{};
  co_return co_await Fill(d, idle);
}

Task<void> TlsStream::ShutdownSend(Deadline d) {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  (void)co_await Flush(d);
}

// --- connecting ---

std::optional<sockaddr_storage> SocketAddress(const std::string& host, uint16_t port,
                                              socklen_t* len) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return ss;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return ss;
  }
  return std::nullopt;
}

Task<std::unique_ptr<Socket>> Dial(Ring* ring, std::string host, uint16_t port, Deadline d,
                                   std::string* error, bool* timed_out) {
  *timed_out = false;
  std::vector<sockaddr_storage> addrs;
  socklen_t unused;
  if (std::optional<sockaddr_storage> lit = SocketAddress(host, port, &unused)) {
    addrs.push_back(*lit);
  } else {
    Resolved r = co_await Resolve(ring, host, port);
    if (!r.error.empty()) {
      *error = absl::StrCat("cannot resolve ", host, ": ", r.error);
      co_return nullptr;
    }
    addrs = std::move(r.addresses);
  }
  std::string last;
  for (const sockaddr_storage& a : addrs) {
    int fd = ::socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    auto s = std::make_unique<Socket>(ring, fd);
    const socklen_t len = a.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    int r = co_await ring->Connect(fd, reinterpret_cast<const sockaddr*>(&a), len, d);
    if (r == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      co_return s;
    }
    if (r == -ETIMEDOUT) *timed_out = true;
    last = std::strerror(-r);
    if (*timed_out) break;
  }
  *error = absl::StrCat("connect to ", host, ":", port, ": ", last.empty() ? "no address" : last);
  co_return nullptr;
}

}  // namespace warden::gateway
