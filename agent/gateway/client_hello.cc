#include "agent/gateway/client_hello.h"

#include <cstdint>

#include "absl/strings/ascii.h"

namespace warden::gateway {
namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloType = 1;
constexpr uint16_t kServerNameExtension = 0;
constexpr uint8_t kHostName = 0;

// A bounds-checked reader: every read fails (and stays failed) past the end.
class Reader {
 public:
  explicit Reader(absl::string_view b) : b_(b) {}
  bool ok() const { return ok_; }
  size_t left() const { return b_.size(); }
  uint32_t U(int bytes) {
    if (!ok_ || b_.size() < static_cast<size_t>(bytes)) return Fail();
    uint32_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(b_[i]);
    b_.remove_prefix(bytes);
    return v;
  }
  absl::string_view Take(size_t n) {
    if (!ok_ || b_.size() < n) {
      Fail();
      return {};
    }
    absl::string_view v = b_.substr(0, n);
    b_.remove_prefix(n);
    return v;
  }
  // A field with a length prefix of `bytes` bytes.
  absl::string_view Vector(int bytes) { return Take(U(bytes)); }

 private:
  uint32_t Fail() {
    ok_ = false;
    b_ = {};
    return 0;
  }
  absl::string_view b_;
  bool ok_ = true;
};

ClientHello Invalid(std::string why) {
  ClientHello h;
  h.state = ClientHello::State::kInvalid;
  h.error = std::move(why);
  return h;
}

// A DNS name as SNI may carry it (RFC 6066: ASCII host name, no trailing dot): letters, digits,
// '-', '.', and '_' (seen in the wild); anything else is refused rather than matched.
bool PlausibleHostName(absl::string_view n) {
  if (n.empty() || n.size() > 253 || n.back() == '.') return false;
  for (char c : n) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      return false;
  }
  return true;
}

// The server name in a complete ClientHello body (after the 4-byte handshake header).
ClientHello FromBody(absl::string_view body) {
  Reader r(body);
  r.U(2);       // legacy_version
  r.Take(32);   // random
  r.Vector(1);  // legacy_session_id
  r.Vector(2);  // cipher_suites
  r.Vector(1);  // legacy_compression_methods
  if (!r.ok()) return Invalid("ClientHello truncated before its extensions");
  ClientHello h;
  h.state = ClientHello::State::kDone;
  if (r.left() == 0) return h;  // no extensions: no SNI
  Reader ext(r.Vector(2));
  if (!r.ok()) return Invalid("ClientHello extensions overrun the message");
  bool seen = false;
  while (ext.left() > 0) {
    uint32_t type = ext.U(2);
    absl::string_view data = ext.Vector(2);
    if (!ext.ok()) return Invalid("ClientHello extension overruns the extensions");
    if (type != kServerNameExtension) continue;
    // RFC 8446 4.2: an extension appears at most once.
    if (seen) return Invalid("ClientHello has two server_name extensions");
    seen = true;
    Reader names(data);
    Reader list(names.Vector(2));
    if (!names.ok() || names.left() != 0) return Invalid("malformed server_name extension");
    while (list.left() > 0) {
      uint32_t name_type = list.U(1);
      absl::string_view name = list.Vector(2);
      if (!list.ok()) return Invalid("malformed server_name extension");
      if (name_type != kHostName) continue;
      // RFC 6066 3: at most one name of a type.
      if (!h.sni.empty()) return Invalid("server_name extension holds two host names");
      if (!PlausibleHostName(name)) return Invalid("server_name is not a DNS host name");
      h.sni = absl::AsciiStrToLower(name);
    }
  }
  return h;
}

}  // namespace

ClientHello ParseClientHello(absl::string_view bytes) {
  // Gather the handshake message from as many records as it spans.
  std::string handshake;
  Reader r(bytes);
  size_t consumed = 0;
  while (true) {
    if (r.left() < 5) break;
    uint32_t type = r.U(1);
    uint32_t version_major = r.U(1);
    r.U(1);
    uint32_t length = r.U(2);
    if (type != kHandshakeRecord) {
      return Invalid(consumed == 0 ? "not a TLS handshake" : "ClientHello interrupted by a record");
    }
    if (version_major != 3) return Invalid("not a TLS record version");
    if (length == 0 || length > 16384) return Invalid("TLS record length out of range");
    if (r.left() < length) break;
    absl::string_view record = r.Take(length);
    handshake.append(record.data(), record.size());
    consumed += 5 + length;
    if (handshake.size() >= 4) {
      Reader hs(handshake);
      if (hs.U(1) != kClientHelloType)
        return Invalid("first handshake message is not a ClientHello");
      uint32_t body = hs.U(3);
      if (body + 4 > kMaxClientHelloBytes) return Invalid("ClientHello larger than 16 KiB");
      if (handshake.size() >= body + 4)
        return FromBody(absl::string_view(handshake).substr(4, body));
    }
  }
  if (bytes.size() >= kMaxClientHelloBytes) return Invalid("ClientHello larger than 16 KiB");
  // An early byte that is not a handshake record is known wrong before the whole header is in.
  if (!bytes.empty() && static_cast<uint8_t>(bytes[0]) != kHandshakeRecord)
    return Invalid("not a TLS handshake");
  return ClientHello{};
}

}  // namespace warden::gateway
