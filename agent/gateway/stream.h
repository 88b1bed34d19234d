// Byte streams over the worker's ring: a TCP socket, and TLS over one with OpenSSL driven from
// memory (no socket calls of its own: the ring receives, OpenSSL decrypts from that buffer and
// encrypts into one the ring sends). An idle TLS connection holds no buffer: the receive waits
// for a pooled one, and OpenSSL gives its record buffers back (SSL_MODE_RELEASE_BUFFERS).
#pragma once

#include <openssl/ssl.h>

#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>

#include "agent/gateway/recycler.h"
#include "agent/gateway/ring.h"
#include "agent/gateway/task.h"

namespace warden::gateway {

using boost::system::error_code;
// The bytes read ahead of a parser (recycled memory: one is taken and given back per request).
using FlowBuffer = boost::beast::basic_flat_buffer<RecyclingAllocator<char>>;

// errno (positive) as an error code; ETIMEDOUT is the deadline passing.
error_code ErrnoCode(int err);
bool IsTimeout(const error_code& ec);
// The peer ended the stream (cleanly, or a TLS stream without close_notify).
bool IsEnd(const error_code& ec);

// A socket descriptor of a ring's task: closed when dropped, shut down when the ring stops.
class Socket {
 public:
  Socket(Ring* ring, int fd) : ring_(ring), fd_(fd) { ring_->Track(fd_); }
  ~Socket();
  Socket(const Socket&) = delete;
  int fd() const { return fd_; }
  Ring* ring() const { return ring_; }
  std::string Remote() const;  // "ADDR:PORT" ("[v6]:PORT")
  std::string Local() const;

 private:
  Ring* ring_;
  int fd_;
};

struct Io {
  size_t n = 0;
  error_code ec;
};

class Stream {
 public:
  virtual ~Stream() = default;
  // Some bytes into [p, p+n): n > 0, or an error (IsEnd when the peer is done).
  virtual Task<Io> ReadSome(char* p, size_t n, Deadline d) = 0;
  // All of `data`. Whatever the stream needs of `data` it takes before it first suspends, so
  // the caller's buffer may be reused by others once the call is made.
  virtual Task<error_code> Write(std::string_view data, Deadline d) = 0;
  // Ends the sending direction (a TLS close_notify; a TCP FIN).
  virtual Task<void> ShutdownSend(Deadline d) = 0;
  virtual Socket& socket() = 0;
  // What went wrong in the TLS layer, if that was the error.
  virtual std::string TlsDetails() const { return ""; }
};

class PlainStream : public Stream {
 public:
  explicit PlainStream(std::unique_ptr<Socket> s) : s_(std::move(s)) {}
  Task<Io> ReadSome(char* p, size_t n, Deadline d) override;
  Task<error_code> Write(std::string_view data, Deadline d) override;
  Task<void> ShutdownSend(Deadline d) override;
  Socket& socket() override { return *s_; }

 private:
  std::unique_ptr<Socket> s_;
  std::string out_;
};

class TlsStream : public Stream {
 public:
  // `ssl` is configured by the caller (SNI, names to verify); the stream owns it.
  TlsStream(std::unique_ptr<Socket> s, SSL* ssl, bool server);
  ~TlsStream() override;
  Task<error_code> Handshake(Deadline d);
  Task<Io> ReadSome(char* p, size_t n, Deadline d) override;
  Task<error_code> Write(std::string_view data, Deadline d) override;
  // Waits until bytes can be read without waiting, holding no buffer meanwhile (thousands of
  // pods' keep-alive connections sit idle). `idle`: the wait for a next request, which a
  // draining ring ends (ECANCELED).
  Task<error_code> WaitReadable(Deadline d, bool idle);
  Task<void> ShutdownSend(Deadline d) override;
  Socket& socket() override { return *s_; }
  std::string TlsDetails() const override { return details_; }
  SSL* ssl() const { return ssl_; }

 private:
  static BIO_METHOD* Method();
  static int BioRead(BIO* b, char* out, int len);
  static int BioWrite(BIO* b, const char* in, int len);
  static long BioCtrl(BIO* b, int cmd, long num, void* ptr);
  Task<error_code> Fill(Deadline d, bool idle = false);  // more ciphertext from the socket
  Task<error_code> Flush(Deadline d);  // the ciphertext OpenSSL wrote, to the socket
  error_code Failed(int ret);

  std::unique_ptr<Socket> s_;
  SSL* ssl_;
  RingBuffer in_;
  size_t in_off_ = 0, in_len_ = 0;
  bool eof_ = false;
  std::string out_;
  std::string details_;
};

// `host` as a socket address with `port`, when it is an IPv4 or IPv6 literal (`len` set).
std::optional<sockaddr_storage> SocketAddress(const std::string& host, uint16_t port,
                                              socklen_t* len);

// A connection to `host` (an address literal or a name, resolved off the ring's thread) and
// port: every address is tried in turn. The error says what failed.
Task<std::unique_ptr<Socket>> Dial(Ring* ring, std::string host, uint16_t port, Deadline d,
                                   std::string* error, bool* timed_out);

}  // namespace warden::gateway
