#include "agent/cli/explain_request.h"

#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/cli/egress_options.h"
#include "agent/cli/flags.h"
#include "agent/common/status_macros.h"
#include "agent/egress/gateway_hop.h"
#include "agent/egress/path_normalize.h"

namespace warden::cli {
namespace {

using egress::GatewayVerdict;
using egress::Request;
using nlohmann::json;

struct Url {
  bool https = false;
  std::string authority;
  std::string target;  // path?query
  uint32_t port = 80;
};

// "http://host[:port]/path?query" or "https://...".
absl::StatusOr<Url> ParseUrl(const std::string& text) {
  Url u;
  std::string rest;
  const std::string lower = absl::AsciiStrToLower(text.substr(0, 8));
  if (absl::StartsWith(lower, "http://")) {
    rest = text.substr(7);
  } else if (absl::StartsWith(lower, "https://")) {
    rest = text.substr(8);
    u.https = true;
    u.port = 443;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("url \"", text, "\" must start with http:// or https://"));
  }
  const size_t end = rest.find_first_of("/?#");
  u.authority = rest.substr(0, end);
  u.target = end == std::string::npos ? "/" : rest.substr(end);
  if (absl::StartsWith(u.target, "?")) u.target = "/" + u.target;
  auto a = egress::ParseAuthority(u.authority);
  if (!a) return absl::InvalidArgumentError(absl::StrCat("url \"", text, "\": bad host[:port]"));
  if (a->port) u.port = a->port;
  return u;
}

// One request to explain, as the flags or a line of the file give it.
struct Ask {
  std::optional<std::string> pod;  // NS/POD
  std::optional<egress::SourceIdentity> identity;
  std::string method = "GET";
  std::string url;
  std::optional<uint32_t> port;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Answer {
  GatewayVerdict v;
  std::string from;  // as written
  std::optional<egress::GatewayHop> hop;
};

// The request the gateway would see; a path it cannot normalize is a bad request (400).
absl::StatusOr<Answer> Explain(const policy::ClusterState& state, const RequestExplainFlags& f,
                               const egress::GatewayConfig& gw, const Ask& ask) {
  Answer out;
  Request req;
  if (ask.pod) {
    const policy::Pod* p = state.FindPod(*ask.pod);
    if (!p) return absl::InvalidArgumentError(absl::StrCat("from: no pod ", *ask.pod));
    req.source = egress::SourceIdentity{p->ns, p->service_account, p->Key()};
    if (!p->ips.empty()) req.source_ip = p->ips.front();
    out.from = p->Key();
  } else if (ask.identity) {
    req.source = ask.identity;
    out.from =
        absl::StrCat(ask.identity->ns, " (service account ", ask.identity->service_account, ")");
  } else {
    out.from = "(no attested identity)";
  }
  WD_ASSIGN_OR_RETURN(Url url, ParseUrl(ask.url));
  req.port = ask.port.value_or(url.port);
  req.http = !url.https;
  req.method = ask.method;
  req.authority = url.authority;
  for (const auto& [k, v] : ask.headers) {
    const std::string name = absl::AsciiStrToLower(k);
    if (name == "host")
      req.authority = v;  // the Host header is the authority
    else
      req.headers.emplace(name, v);
  }
  if (url.https) req.sni = absl::AsciiStrToLower(egress::ParseAuthority(url.authority)->host);
  auto path = egress::NormalizePath(url.target);
  if (req.http && !path.ok()) {
    out.v.verdict = egress::Verdict::kBadRequest;
    out.v.status = 400;
    out.v.reason = std::string(path.status().message());
  } else {
    if (path.ok()) req.path = *path;
    out.v = gw.Decide(req);
  }
  // The hop to the gateway: the pod's egress must allow a gateway pod (its node redirects it to
  // the forwarder only then), and the gateway's ingress the node's forwarder.
  if (ask.pod) {
    policy::Model model(state);
    out.hop = egress::CheckGatewayHop(state, model, f.gateway.gateway_namespace,
                                      *state.FindPod(*ask.pod), f.gateway_port);
  }
  return out;
}

json AnswerJson(const Answer& a) {
  json j = {{"verdict", egress::VerdictName(a.v.verdict)},
            {"status", a.v.status},
            {"reason", a.v.reason},
            {"from", a.from}};
  if (a.v.authz.decided_by) {
    j["policy"] =
        absl::StrCat(a.v.authz.decided_by->policy->ns, "/", a.v.authz.decided_by->policy->name);
    j["rule"] = a.v.authz.decided_by->rule;
  }
  if (a.v.registration) {
    j["registered_by"] = a.v.registration->entry->Key();
    j["registered_host"] = *a.v.registration->host;
    j["upstream"] = {{"tls", policy::TlsModeName(a.v.upstream.tls)}, {"port", a.v.upstream.port}};
    if (a.v.upstream.rule) j["upstream"]["destination_rule"] = a.v.upstream.rule->Key();
  }
  if (!a.v.authz.audited.empty()) {
    json audited = json::array();
    for (const auto& r : a.v.authz.audited) audited.push_back(r.Name());
    j["audited"] = audited;
  }
  if (a.v.authz.dry_run_allowed)
    j["dry_run_verdict"] = *a.v.authz.dry_run_allowed ? "allow" : "deny";
  if (a.hop) {
    j["hop"] = {{"verdict", a.hop->allowed ? "allow" : "deny"},
                {"to", a.hop->gateway},
                {"port", a.hop->port_text},
                {"via", a.hop->node},
                {"reason", a.hop->reason}};
  }
  return j;
}

void PrintText(const Answer& a, const Ask& ask, std::ostream& out) {
  std::string verdict = absl::AsciiStrToUpper(egress::VerdictName(a.v.verdict));
  // An allowed request is answered by the upstream, not the gateway: no status of its own.
  std::string answer =
      a.v.verdict == egress::Verdict::kAllow ? "(to upstream)" : std::to_string(a.v.status);
  out << verdict << " " << answer << "  " << a.from << " -> " << ask.method << " " << ask.url
      << "\n";
  if (a.v.registration) {
    out << "  registry  " << *a.v.registration->host << ":" << a.v.registration->port->number
        << " registered by ServiceEntry " << a.v.registration->entry->Key() << " ("
        << a.v.registration->port->protocol_name << "); upstream "
        << policy::TlsModeName(a.v.upstream.tls) << " to port " << a.v.upstream.port;
    if (a.v.upstream.rule) out << " (DestinationRule " << a.v.upstream.rule->Key() << ")";
    out << "\n";
  }
  out << "  decision  " << a.v.reason << "\n";
  for (const auto& r : a.v.authz.audited) out << "  audit     " << r.Name() << "\n";
  if (a.v.authz.dry_run_allowed)
    out << "  dry-run   " << (*a.v.authz.dry_run_allowed ? "would allow" : "would deny") << "\n";
  if (a.hop)
    out << "  hop       " << (a.hop->allowed ? "allow" : "deny") << "  " << a.from << " -> "
        << (a.hop->gateway.empty() ? "(no gateway)" : a.hop->gateway) << " TCP/" << a.hop->port_text
        << ": " << a.hop->reason << "\n";
}

// One line of --requests: an object with from or namespace/service_account (or neither), method,
// url, port and headers.
absl::StatusOr<Ask> AskOfLine(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  static const char* kKnown[] = {"from", "namespace", "service_account", "method",
                                 "url",  "port",      "headers"};
  for (const auto& [k, _] : j.items()) {
    bool known = false;
    for (const char* n : kKnown) known |= k == n;
    if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown field \"", k, "\""));
  }
  auto str = [&](const char* k) -> absl::StatusOr<std::optional<std::string>> {
    if (!j.contains(k)) return std::nullopt;
    if (!j[k].is_string()) return absl::InvalidArgumentError(absl::StrCat(k, ": not a string"));
    return j[k].get<std::string>();
  };
  Ask a;
  WD_ASSIGN_OR_RETURN(auto from, str("from"));
  WD_ASSIGN_OR_RETURN(auto ns, str("namespace"));
  WD_ASSIGN_OR_RETURN(auto sa, str("service_account"));
  WD_ASSIGN_OR_RETURN(auto method, str("method"));
  WD_ASSIGN_OR_RETURN(auto url, str("url"));
  if (from && (ns || sa))
    return absl::InvalidArgumentError("from: not with namespace or service_account");
  if (sa && !ns) return absl::InvalidArgumentError("service_account: needs namespace");
  a.pod = from;
  if (ns) a.identity = egress::SourceIdentity{*ns, sa.value_or("default"), ""};
  if (!url) return absl::InvalidArgumentError("url: required");
  a.url = *url;
  if (method) a.method = *method;
  if (a.method.empty()) return absl::InvalidArgumentError("method: empty");
  if (j.contains("port")) {
    if (!j["port"].is_number_unsigned() || j["port"].get<uint64_t>() < 1 ||
        j["port"].get<uint64_t>() > 65535)
      return absl::InvalidArgumentError("port: not a port number (1-65535)");
    a.port = j["port"].get<uint32_t>();
  }
  if (j.contains("headers")) {
    if (!j["headers"].is_object()) return absl::InvalidArgumentError("headers: not an object");
    for (const auto& [k, v] : j["headers"].items()) {
      if (!v.is_string())
        return absl::InvalidArgumentError(absl::StrCat("headers.", k, ": not a string"));
      a.headers.emplace_back(k, v.get<std::string>());
    }
  }
  return a;
}

}  // namespace

int ExplainRequests(const policy::ClusterState& state, const RequestExplainFlags& f,
                    int exit_code) {
  egress::GatewayConfig gw(state, egress::WithGatewayPodLabels(state, f.gateway));
  if (!f.request.empty()) {
    Ask ask;
    const size_t sp = f.request.find(' ');
    if (sp == std::string::npos)
      return BadInput("explain", "--request: expected \"METHOD URL\", e.g. 'GET http://h/p'");
    ask.method = f.request.substr(0, sp);
    ask.url = std::string(absl::StripAsciiWhitespace(f.request.substr(sp + 1)));
    ask.pod = f.from;
    for (const auto& h : f.headers) {
      const size_t colon = h.find(':');
      if (colon == std::string::npos || colon == 0)
        return BadInput("explain", "--header \"" + h + "\": expected \"Name: value\"");
      ask.headers.emplace_back(h.substr(0, colon),
                               std::string(absl::StripAsciiWhitespace(h.substr(colon + 1))));
    }
    auto a = Explain(state, f, gw, ask);
    if (!a.ok()) return BadInput("explain", std::string(a.status().message()));
    if (f.output == "json")
      std::cout << AnswerJson(*a).dump(2) << "\n";
    else
      PrintText(*a, ask, std::cout);
    return exit_code;
  }
  std::ifstream in(f.requests_file);
  if (!in) return BadInput("explain", "--requests " + f.requests_file + ": cannot be read");
  json results = json::array();
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    absl::StatusOr<Ask> ask = AskOfLine(line);
    absl::StatusOr<Answer> a =
        ask.ok() ? Explain(state, f, gw, *ask) : absl::StatusOr<Answer>(ask.status());
    if (!a.ok()) {
      std::cerr << "error: " << f.requests_file << ":" << n << ": " << a.status().message() << "\n";
      results.push_back({{"line", n}, {"error", std::string(a.status().message())}});
      exit_code = 2;
      continue;
    }
    json j = AnswerJson(*a);
    j["line"] = n;
    results.push_back(std::move(j));
  }
  std::cout << json{{"results", results}}.dump(f.output == "json" ? 1 : 2) << "\n";
  return exit_code;
}

}  // namespace warden::cli
