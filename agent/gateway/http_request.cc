#include "agent/gateway/http_request.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/egress/path_normalize.h"

namespace warden::gateway {
namespace http = boost::beast::http;

namespace {

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(what); }

// RFC 9110 5.5: a field value holds no CR, LF or NUL (other control characters are refused
// too: they are how request smuggling and log injection start).
bool CleanValue(absl::string_view v) {
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

// The headers Connection names, lower-case.
template <class Header>
std::vector<std::string> ConnectionTokens(const Header& h) {
  std::vector<std::string> out;
  for (auto it = h.find(http::field::connection);
       it != h.end() && it->name() == http::field::connection; ++it) {
    for (absl::string_view t :
         absl::StrSplit(absl::string_view(it->value().data(), it->value().size()), ',')) {
      t = absl::StripAsciiWhitespace(t);
      if (!t.empty()) out.push_back(absl::AsciiStrToLower(t));
    }
  }
  return out;
}

template <class Header>
void RemoveHopByHop(Header* h, const std::vector<std::string>& named) {
  for (const std::string& n : named) {
    if (n == "host" || n == "content-length" || n == "transfer-encoding")
      continue;  // framing stays
    h->erase(n);
  }
  for (http::field f :
       {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
        http::field::proxy_authenticate, http::field::proxy_authorization, http::field::te,
        http::field::trailer, http::field::upgrade}) {
    h->erase(f);
  }
}

}  // namespace

absl::StatusOr<ParsedRequest> ParseRequest(const RequestHeader& h) {
  ParsedRequest p;
  egress::Request& r = p.request;
  r.http = true;
  r.method = std::string(h.method_string());
  if (h.method() == http::verb::connect) return Bad("CONNECT is not proxied by the egress gateway");
  std::string target(h.target());
  // RFC 9112 3.2.2: a request to a proxy may use the absolute form; its authority then wins
  // over Host, which is replaced.
  std::string authority;
  absl::string_view t = target;
  if (absl::StartsWithIgnoreCase(t, "http://") || absl::StartsWithIgnoreCase(t, "https://")) {
    t.remove_prefix(t.find("//") + 2);
    size_t end = t.find_first_of("/?#");
    authority = std::string(t.substr(0, end));
    if (authority.empty() || authority.find('@') != std::string::npos)
      return Bad("absolute-form target without a plain host");
    t = end == absl::string_view::npos ? absl::string_view("/") : t.substr(end);
    p.origin_target = t[0] == '/' ? std::string(t) : absl::StrCat("/", t);
  } else if (!t.empty() && t[0] == '/') {
    p.origin_target = target;
  } else if (t == "*" && h.method() == http::verb::options) {
    return Bad("OPTIONS * is not proxied by the egress gateway");
  } else {
    return Bad(absl::StrCat("request target \"", target.substr(0, 64), "\" is not a path"));
  }
  size_t hosts = h.count(http::field::host);
  if (authority.empty()) {
    if (hosts != 1) return Bad(hosts == 0 ? "no Host header" : "more than one Host header");
    authority = std::string(h[http::field::host]);
  } else if (hosts > 1) {
    return Bad("more than one Host header");
  }
  if (authority.empty()) return Bad("empty Host header");
  if (!CleanValue(authority)) return Bad("Host holds a control character");
  r.authority = authority;
  absl::StatusOr<std::string> path = egress::NormalizePath(p.origin_target);
  if (!path.ok()) return Bad(path.status().message());
  r.path = *std::move(path);
  size_t q = p.origin_target.find_first_of("?#");
  p.raw_path = p.origin_target.substr(0, q);
  for (const auto& f : h) {
    absl::string_view v(f.value().data(), f.value().size());
    if (!CleanValue(v))
      return Bad(
          absl::StrCat("header ", std::string(f.name_string()), " holds a control character"));
    r.headers.emplace(
        absl::AsciiStrToLower(absl::string_view(f.name_string().data(), f.name_string().size())),
        std::string(v));
  }
  if (r.headers.find("host") == r.headers.end()) r.headers.emplace("host", authority);
  return p;
}

void PrepareUpstream(const ParsedRequest& p, RequestHeader* h) {
  RemoveHopByHop(h, ConnectionTokens(*h));
  h->erase(http::field::expect);
  h->target(p.origin_target);
  h->set(http::field::host, p.request.authority);
  h->version(11);  // HTTP/1.1 without Connection: kept alive
}

void PrepareDownstream(ResponseHeader* h) { RemoveHopByHop(h, ConnectionTokens(*h)); }

}  // namespace warden::gateway
