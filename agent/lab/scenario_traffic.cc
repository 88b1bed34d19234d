#include "agent/lab/scenario_traffic.h"

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab_places.h"

namespace warden::lab {

namespace {

using Kind = TrafficRow::Kind;

TrafficRow Http(std::string label, std::string from, std::string ip, std::string host,
                std::string path, bool permitted, int status) {
  return TrafficRow{std::move(label), std::move(from), Kind::kHttp, std::move(ip), 4, 80,
                    std::move(host),  std::move(path), permitted,   status};
}

TrafficRow L4(std::string label, std::string from, Kind kind, std::string to, int family, int port,
              bool permitted) {
  return TrafficRow{std::move(label), std::move(from), kind, std::move(to), family, port, "", "",
                    permitted};
}

// The source addresses `from` sends from, of `family`.
absl::StatusOr<std::string> SourceAddress(const LabState& lab, const std::string& from,
                                          int family) {
  if (from.starts_with("node:")) {
    const LabNode* n = lab.FindNode(from.substr(5));
    if (!n) return absl::NotFoundError(absl::StrCat(from, ": no such node in the lab"));
    return family == 6 ? n->ip6 : n->ip;
  }
  const LabPod* p = lab.FindPod(from);
  if (!p) return absl::NotFoundError(absl::StrCat(from, ": no such pod in the lab"));
  return PodAddress(*p, family);
}

}  // namespace

const std::vector<TrafficRow>& ReferenceTraffic() {
  static const auto* rows = new std::vector<TrafficRow>{
      Http("1", "team-x/app", "203.0.113.10", "example.com", "/?row=1", true, 200),
      Http("2", "team-x/app", "203.0.113.20", "httpbin.org", "/status/418?row=2", false, 0),
      Http("3", "team-y/app", "203.0.113.20", "httpbin.org", "/status/418?row=3", true, 418),
      Http("4", "team-y/app", "203.0.113.20", "httpbin.org", "/get?row=4", false, 0),
      Http("5", "team-y/app", "203.0.113.10", "example.com", "/?row=5", false, 0),
      Http("6", "team-x/app", "203.0.113.66", "unregistered.test", "/?row=6", false, 0),
      L4("7", "team-x/app", Kind::kTcp, "203.0.113.66", 4, 8443, false),
      L4("7 v6", "team-x/app", Kind::kTcp, "2001:db8::66", 6, 8443, false),
      L4("8", "team-x/app", Kind::kUdp, "198.51.100.53", 4, 53, false),
      L4("8 v6", "team-x/app", Kind::kUdp, "2001:db8::53", 6, 53, false),
      L4("8b", "team-x/app", Kind::kUdp, "kube-system/kube-dns", 4, 53, true),
      L4("8b v6", "team-x/app", Kind::kUdp, "kube-system/kube-dns", 6, 53, true),
      L4("9", "team-x/app", Kind::kTcp, "199.36.153.8", 4, 443, true),
      L4("9 v6", "team-x/app", Kind::kTcp, "2600:2d00:2:2000::8", 6, 443, true),
      L4("10", "team-x/app", Kind::kTcp, "169.254.169.254", 4, 80, true),
      L4("11", "team-x/app", Kind::kTcp, "team-y/app", 4, 8080, false),
      L4("11 v6", "team-x/app", Kind::kTcp, "team-y/app", 6, 8080, false),
      L4("12", "team-x/app", Kind::kTcp, "team-x/worker", 4, 8080, true),
      L4("12 v6", "team-x/app", Kind::kTcp, "team-x/worker", 6, 8080, true),
      L4("13", "node:default-1", Kind::kTcp, "203.0.113.66", 4, 443, false),
      L4("13 v6", "node:default-1", Kind::kTcp, "2001:db8::66", 6, 443, false),
      L4("14", "team-y/batch", Kind::kTcp, "203.0.113.66", 4, 443, false),
      L4("14 v6", "team-y/batch", Kind::kTcp, "2001:db8::66", 6, 443, false),
      L4("14b", "warden-egress/gateway", Kind::kTcp, "203.0.113.66", 4, 443, true),
      L4("14b v6", "warden-egress/gateway", Kind::kTcp, "2001:db8::66", 6, 443, true),
  };
  return *rows;
}

bool GotThrough(const TrafficRow& row, const ProbeResult& r) {
  if (row.kind != Kind::kHttp) return r.allowed();
  if (!r.allowed()) return false;
  if (row.permitted) return r.http_status == row.status;
  return (r.http_status >= 200 && r.http_status < 300) || r.http_status == 418;
}

absl::StatusOr<Receiver> ReceiverOf(const LabState& lab, const std::string& state_dir,
                                    const TrafficRow& row) {
  if (row.kind == Kind::kHttp) {
    // nginx's access log: `... sni=HOST "GET PATH HTTP/1.1" STATUS`.
    return Receiver{LogPath(state_dir, "internet-https.log"),
                    {absl::StrCat("\"GET ", row.path, " HTTP/1.1\"")}};
  }
  WD_ASSIGN_OR_RETURN(Target target, TargetOf(lab, row.to, row.family));
  WD_ASSIGN_OR_RETURN(std::string src, SourceAddress(lab, row.from, row.family));
  const char* proto = row.kind == Kind::kUdp ? "udp" : "tcp";
  // The echo servers' kAcceptedWord lines; a datagram's local address is not known ("*").
  const std::string local = row.kind == Kind::kUdp ? "*" : target.ip;
  std::string line =
      absl::StrCat(kAcceptedWord, " ", proto, " ", local, " ", row.port, " ", src, " ");
  std::string log;
  for (size_t j = 0; j < lab.pods.size(); ++j) {
    if (PodAddress(lab.pods[j], row.family) == target.ip)
      log = LogPath(state_dir, absl::StrCat("pod-", j, ".log"));
  }
  if (log.empty() && target.ip == "169.254.169.254") {
    // The metadata server on the sender's node.
    const LabPod* p = lab.FindPod(row.from);
    std::string node = p ? p->node : row.from.substr(5);
    log = LogPath(state_dir, "metadata-" + node + ".log");
  }
  if (log.empty()) log = LogPath(state_dir, "internet.log");
  return Receiver{log, {line}};
}

}  // namespace warden::lab
