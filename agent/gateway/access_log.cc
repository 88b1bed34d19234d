#include "agent/gateway/access_log.h"

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace warden::gateway {
namespace {

// A line is written once this much is buffered, or after this long.
constexpr size_t kFlushBytes = 64 * 1024;
constexpr auto kFlushEvery = std::chrono::milliseconds(100);

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0.
size_t Utf8Length(absl::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  const size_t n = c >= 0xc2 && c <= 0xdf   ? 2
                   : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
  if (n == 0 || s.size() < n) return 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c == 0xe0) lo = 0xa0;
  if (c == 0xed) hi = 0x9f;
  if (c == 0xf0) lo = 0x90;
  if (c == 0xf4) hi = 0x8f;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i)
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  return n;
}

// `s` as a JSON string: quotes, backslashes and control characters escaped, invalid UTF-8
// (names and paths come from the network) replaced by U+FFFD.
void AppendString(std::string* out, absl::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // The common case, printable ASCII, goes in runs.
    size_t run = i;
    while (run < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[run]);
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') break;
      ++run;
    }
    out->append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = Utf8Length(s.substr(i));
      if (n == 0) {
        out->append("\\ufffd");
        ++i;
      } else {
        out->append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        absl::StrAppend(out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    }
    ++i;
  }
  out->push_back('"');
}

// RFC 3339 UTC with milliseconds; the part to the second is formatted once per second.
std::string StartTime(absl::Time t) {
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::string cached;
  const int64_t ms = absl::ToUnixMillis(t);
  const int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (second != cached_second) {
    cached =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second), absl::UTCTimeZone());
    cached_second = second;
  }
  const int millis = static_cast<int>(ms - second * 1000);
  char frac[6] = {'.',
                  static_cast<char>('0' + millis / 100),
                  static_cast<char>('0' + millis / 10 % 10),
                  static_cast<char>('0' + millis % 10),
                  'Z',
                  0};
  return absl::StrCat(cached, frac);
}

// Appends `"key":value` (a string, null when empty) after a comma unless first.
class Line {
 public:
  Line() { out_.reserve(1024); }
  void Str(absl::string_view key, absl::string_view v) {
    Key(key);
    if (v.empty()) {
      out_.append("null");
    } else {
      AppendString(&out_, v);
    }
  }
  template <typename N>
  void Num(absl::string_view key, const std::optional<N>& v) {
    Key(key);
    if (v) {
      absl::StrAppend(&out_, *v);
    } else {
      out_.append("null");
    }
  }
  std::string Done() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void Key(absl::string_view key) {
    out_.push_back(out_.empty() ? '{' : ',');
    absl::StrAppend(&out_, "\"", key, "\":");
  }
  std::string out_;
};

}  // namespace

std::string AccessLine(const AccessEntry& e) {
  Line l;
  l.Str("start_time", StartTime(e.start_time));
  l.Str("method", e.method);
  l.Str("path", e.path);
  l.Str("protocol", e.protocol);
  l.Num("response_code", e.response_code);
  l.Str("response_flags", e.response_flags);
  l.Str("response_code_details", e.response_code_details);
  l.Str("connection_termination_details", e.connection_termination_details);
  l.Str("upstream_transport_failure_reason", e.upstream_transport_failure_reason);
  l.Num("bytes_received", std::optional<uint64_t>(e.bytes_received));
  l.Num("bytes_sent", std::optional<uint64_t>(e.bytes_sent));
  l.Num("duration", std::optional<int64_t>(e.duration_ms));
  l.Num("upstream_service_time", e.upstream_service_time_ms);
  l.Str("x_forwarded_for", e.x_forwarded_for);
  l.Str("user_agent", e.user_agent);
  l.Str("request_id", e.request_id);
  l.Str("authority", e.authority);
  l.Str("upstream_host", e.upstream_host);
  l.Str("upstream_cluster", e.upstream_cluster);
  l.Str("upstream_local_address", e.upstream_local_address);
  l.Str("downstream_local_address", e.downstream_local_address);
  l.Str("downstream_remote_address", e.downstream_remote_address);
  l.Str("requested_server_name", e.requested_server_name);
  l.Str("source_node", e.source_node);
  l.Str("source_namespace", e.source_namespace);
  l.Str("source_pod", e.source_pod);
  l.Str("source_service_account", e.source_service_account);
  l.Str("source_principal", e.source_principal);
  l.Str("original_destination", e.original_destination);
  l.Str("verdict", e.verdict);
  l.Str("policy", e.policy);
  l.Str("rule", e.rule);
  l.Num("flow_id", std::optional<uint64_t>(e.flow_id));
  return l.Done();
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path) {
  if (path == "-") return std::unique_ptr<AccessLog>(new AccessLog(stdout, false));
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) {
    return absl::InvalidArgumentError(
        absl::StrCat("--access-log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AccessLog>(new AccessLog(f, true));
}

AccessLog::AccessLog(std::FILE* f, bool owned)
    : f_(f), owned_(owned), writer_([this] { FlushLoop(); }) {}

AccessLog::~AccessLog() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();
  if (owned_) std::fclose(f_);
}

void AccessLog::Write(const AccessEntry& e) {
  std::string line = AccessLine(e);
  line.push_back('\n');
  bool flush;
  {
    std::lock_guard<std::mutex> l(mu_);
    pending_.append(line);
    flush = pending_.size() >= kFlushBytes;
  }
  if (flush) cv_.notify_one();
}

void AccessLog::FlushLoop() {
  std::string out;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait_for(l, kFlushEvery, [this] { return stop_ || pending_.size() >= kFlushBytes; });
    out.swap(pending_);
    bool stop = stop_;
    l.unlock();
    if (!out.empty()) {
      std::fwrite(out.data(), 1, out.size(), f_);
      std::fflush(f_);
      out.clear();
    }
    l.lock();
    if (stop && pending_.empty()) return;
  }
}

}  // namespace warden::gateway
