// End-to-end: the lab cluster (network namespaces, cgroups, one real `warden node` per node)
// judged by real packets. Needs root, BPF and iproute2: fails, never skips, without them.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/lab/probe.h"
#include "tests/e2e/e2e_util.h"
#include "tests/lib/child_process.h"

namespace warden::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

const char* kTruthTableCluster = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 10.10.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDR: 10.244.2.0/24}
status: {addresses: [{type: InternalIP, address: 10.10.0.12}]}
)";

// Namespaces x, y, z with pods a, b, c serving 80 and 81 on TCP and UDP (as the upstream e2e
// truth tables); pods alternate between the two nodes.
std::string TruthTable() {
  std::string out = kTruthTableCluster;
  int i = 0;
  for (std::string ns : {"x", "y", "z"}) {
    out += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + ", labels: {ns: " + ns +
           "}}\n";
    for (std::string pod : {"a", "b", "c"}) {
      int node = 1 + (i % 2);
      std::string ip = "10.244." + std::to_string(node) + "." + std::to_string(10 + i);
      out += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + pod + ", namespace: " + ns +
             ", labels: {pod: " + pod + "}}\nspec:\n  nodeName: n" + std::to_string(node) +
             "\n  containers:\n  - name: c\n    ports:\n"
             "    - {name: serve-80-tcp, containerPort: 80}\n"
             "    - {name: serve-81-tcp, containerPort: 81}\n"
             "    - {name: serve-80-udp, containerPort: 80, protocol: UDP}\n"
             "    - {name: serve-81-udp, containerPort: 81, protocol: UDP}\n"
             "status: {podIP: " +
             ip + "}\n";
      ++i;
    }
  }
  return out;
}

// Policy sets applied one after another to the running lab (the agents re-read the directory).
const std::vector<std::pair<std::string, std::string>> kPolicySets = {
    {"none", ""},
    {"deny-all-ingress-x", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
)"},
    {"named-port-from-y", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: y}}}]
    ports: [{port: serve-80-tcp}, {protocol: UDP, port: serve-81-udp}]
)"},
    {"egress-y-to-b-81-and-ipblock", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress, namespace: y}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [c]}]}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 81, endPort: 81}, {protocol: UDP, port: 80}]
  - to: [{ipBlock: {cidr: 10.244.0.0/16, except: [10.244.1.0/24]}}]
    ports: [{protocol: TCP}]
)"},
    {"and-vs-or", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: and, namespace: z}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}]
  - from: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}}]
    ports: [{protocol: UDP}]
  egress:
  - {}
)"},
    // x may open connections to y on any port, y none to x: replies to x's connections pass x's
    // isolated ingress, but y's connections to x do not (y's ephemeral ports being within
    // x's egress allowance must not admit them).
    {"replies-pass-new-connections-do-not", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out-only, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: y}}}]
)"},
};

class LabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the lab needs root (network namespaces, cgroups, BPF)";
    dir_ = fs::temp_directory_path() / ("warden-lab-test-" + std::to_string(getpid()));
    state_ = dir_.string() + "-state";
    fs::create_directories(dir_);
  }
  void TearDown() override {
    Result r = Warden("lab down --state " + state_);
    EXPECT_EQ(r.code, 0) << r.err;
    fs::remove_all(dir_);
    Result ns = Sh("ip netns list | grep -c '^wl-' || true");
    EXPECT_EQ(ns.out, "0\n") << "lab down left network namespaces behind";
  }
  void Write(const std::string& name, const std::string& text) {
    // Write then rename: the agents never see half a file.
    fs::path tmp = dir_ / (name + ".tmp");
    std::ofstream(tmp) << text;
    fs::rename(tmp, dir_ / name);
  }
  void Up(const std::string& extra = "") {
    Result r = Warden("lab up --manifests " + dir_.string() + " --state " + state_ + " " + extra);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    std::ifstream in(state_ + "/state.json");
    lab_ = json::parse(in);
  }
  // The lab on a manifests directory of the source tree.
  void UpFrom(const std::string& source_dir, const std::string& extra = "") {
    fs::copy(fs::path(WARDEN_SOURCE_DIR) / source_dir, dir_, fs::copy_options::recursive);
    Up(extra);
  }
  // The lab on the reference example (deploy/examples/reference).
  void UpReference(const std::string& extra = "") { UpFrom("deploy/examples/reference", extra); }
  const json& Pod(const std::string& key) const {
    for (const auto& p : lab_["pods"]) {
      if (p["key"] == key) return p;
    }
    throw std::runtime_error("no pod " + key + " in the lab");
  }
  Result Exec(const std::string& in, const std::string& command, const std::string& flags = "") {
    return Warden("lab exec --state " + state_ + " --in " + in + " " + flags + " -- " + command);
  }
  // A metric's value (the first series whose line starts with `series`), read inside a netns.
  static long Metric(const std::string& netns, const std::string& address,
                     const std::string& series) {
    Result r =
        Sh("ip netns exec " + netns + " curl -s --max-time 2 http://" + address + "/metrics");
    size_t at = r.out.find("\n" + series);
    if (at == std::string::npos) return -1;
    size_t sp = r.out.find(' ', at + 1 + series.size());
    return std::stol(r.out.substr(sp + 1));
  }
  long ControlReloads() {
    return Metric(lab_["control"]["netns"], lab_["control"]["metrics"],
                  "warden_control_reloads_total");
  }
  // Waits until the control plane has seen a manifest change made after `before` reloads and
  // every agent enforces the version the control plane holds for its node.
  void WaitReload(long before) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && ControlReloads() <= before) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (const auto& n : lab_["nodes"]) {
      std::string name = n["name"];
      long want = Metric(lab_["control"]["netns"], lab_["control"]["metrics"],
                         "warden_control_node_version{node=\"" + name + "\"}");
      while (std::chrono::steady_clock::now() < deadline &&
             Metric(n["netns"], n["metrics"], "warden_control_version{node=\"" + name + "\"}") !=
                 want) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "node " << name << " did not reach version " << want << "\n"
          << testlib::LogTail(state_ + "/logs/" + name + ".log", 20);
    }
  }
  std::string Probe(const std::string& from, const std::string& to, int port, const char* proto,
                    int timeout_ms = 500, int family = 0) {
    Result r = Warden("lab probe --state " + state_ + " --from " + from + " --to " + to +
                      " --port " + std::to_string(port) + " --protocol " + proto +
                      " --timeout-ms " + std::to_string(timeout_ms) + " --output json" +
                      (family ? " --family " + std::to_string(family) : ""));
    if (r.code != 0) return "error: " + r.err;
    return json::parse(r.out)["outcome"];
  }

  // The internet's HTTPS hosts (nginx) answer a TLS handshake, not the probe's 1-byte echo: to
  // them, "connected" is a completed handshake, tried from inside the pod.
  std::string ProbeHttps(const std::string& from, const std::string& host) {
    Result r = Warden("lab exec --state " + state_ + " --in " + from +
                      " -- sh -c 'echo | timeout 2 openssl s_client -connect " +
                      (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                      ":443 -brief >/dev/null 2>&1'");
    return r.code == 0 ? "connected" : "refused-or-dropped";
  }
  bool IsHttpsHost(const std::string& host, int port) const {
    return port == 443 && lab_.contains("web_pid") &&
           (host == "203.0.113.10" || host == "203.0.113.20" || host == "2001:db8::10" ||
            host == "2001:db8::20");
  }

  // What a Prober runs for each of its cases: a probe with a 300 ms time-out.
  auto ProbeCase() {
    return [this](const auto& c) { return Probe(c.from, c.to, c.port, c.proto, 300); };
  }

  // The lab's real-packet matrix must equal `warden explain --matrix` on the same manifests.
  void ExpectMatrixEqualsExplain(const std::string& label, const std::string& ports) {
    Result lab = Warden("lab matrix --state " + state_ + " --ports " + ports +
                        " --protocols TCP,UDP --timeout-ms 500 --parallel 32 --output json");
    ASSERT_EQ(lab.code, 0) << lab.err;
    Result exp = Warden("explain --manifests " + dir_.string() + " --matrix --ports " + ports +
                        " --protocols TCP,UDP --output json");
    ASSERT_EQ(exp.code, 0) << exp.err;
    std::map<std::string, json> want;
    const json explained = json::parse(exp.out);
    for (const auto& r : explained["results"]) {
      want[r["from"].get<std::string>() + ">" + r["to"].get<std::string>() + ":" +
           std::to_string(r["port"].get<int>()) + "/" + r["protocol"].get<std::string>()] = r;
    }
    auto got = json::parse(lab.out)["results"];
    ASSERT_EQ(got.size(), want.size()) << label;
    int mismatches = 0, allowed = 0;
    for (const auto& r : got) {
      std::string k = r["from"].get<std::string>() + ">" + r["to"].get<std::string>() + ":" +
                      std::to_string(r["port"].get<int>()) + "/" + r["protocol"].get<std::string>();
      ASSERT_TRUE(want.count(k)) << k;
      if (r["verdict"] == "allow") ++allowed;
      if (r["verdict"] != want[k]["verdict"]) {
        ++mismatches;
        ADD_FAILURE() << label << ": " << k << " lab=" << r["verdict"] << " (" << r["outcome"]
                      << ": " << r["reason"] << ") explain=" << want[k]["verdict"] << " ("
                      << want[k]["reason"] << ")";
      }
    }
    EXPECT_EQ(mismatches, 0) << label;
    EXPECT_GT(allowed, 0) << label << ": nothing got through at all; the lab is broken";
  }

  // The lab's matrix in both families equals `warden explain` asked about each flow with the
  // destination's address of the row's family (explain picks the source's address of the same
  // family), and covers every ordered pair of pods that both have an address of the family.
  void ExpectDualStackMatrixEqualsExplain(const std::string& ports) {
    Result lab = Warden("lab matrix --state " + state_ + " --ports " + ports +
                        " --protocols TCP,UDP --timeout-ms 500 --parallel 32 --output json");
    ASSERT_EQ(lab.code, 0) << lab.err;
    auto rows = json::parse(lab.out)["results"];
    std::map<int, size_t> rows_of, pods_of;
    for (const auto& p : lab_["pods"]) {
      pods_of[4] += !p["ip"].get<std::string>().empty();
      pods_of[6] += !p["ip6"].get<std::string>().empty();
    }
    int mismatches = 0;
    std::map<std::string, int> allowed;  // by family
    for (const auto& r : rows) {
      int family = r["family"];
      ++rows_of[family];
      std::string to = Pod(r["to"])[family == 6 ? "ip6" : "ip"];
      std::string k = r["from"].get<std::string>() + " -> " + to + ":" +
                      std::to_string(r["port"].get<int>()) + "/" + r["protocol"].get<std::string>();
      Result exp = Warden("explain --manifests " + dir_.string() + " --from " +
                          r["from"].get<std::string>() + " --to " + to + " --port " +
                          std::to_string(r["port"].get<int>()) + " --protocol " +
                          r["protocol"].get<std::string>() + " --output json");
      ASSERT_EQ(exp.code, 0) << k << ": " << exp.err;
      json want = json::parse(exp.out);
      if (r["verdict"] == "allow") ++allowed["IPv" + std::to_string(family)];
      if (r["verdict"] != want["verdict"]) {
        ++mismatches;
        ADD_FAILURE() << k << " lab=" << r["verdict"] << " (" << r["outcome"] << ": " << r["reason"]
                      << ") explain=" << want["verdict"] << " (" << want["reason"] << ")";
      }
    }
    size_t per_pair = std::count(ports.begin(), ports.end(), ',') + 1;  // ports
    per_pair *= 2;                                                      // TCP, UDP
    for (int family : {4, 6}) {
      EXPECT_EQ(rows_of[family], pods_of[family] * (pods_of[family] - 1) * per_pair)
          << "IPv" << family << " rows";
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_GT(allowed["IPv4"], 0) << "nothing got through over IPv4; the lab is broken";
    EXPECT_GT(allowed["IPv6"], 0) << "nothing got through over IPv6; the lab is broken";
  }

  fs::path dir_;
  std::string state_;
  json lab_;
};

TEST_F(LabTest, RealPacketMatrixEqualsExplainForEveryPolicySet) {
  Write("cluster.yaml", TruthTable());
  Up();
  for (const auto& [name, yaml] : kPolicySets) {
    long before = ControlReloads();
    if (yaml.empty()) {
      fs::remove(dir_ / "policy.yaml");
    } else {
      Write("policy.yaml", yaml);
    }
    if (name != "none") WaitReload(before);
    ExpectMatrixEqualsExplain(name, "80,81");
  }
}

// A long-lived TCP connection between two lab pods, from their own cgroups and network
// namespaces: a server child (accepts one connection, echoes every byte until EOF) and a client
// child that sends a byte every 50 ms and reports to the test, one character per exchange:
// '+' if an echo came back within 300 ms, '-' if not.
class Conversation {
 public:
  Conversation(const json& from, const json& to, int port) {
    int ready[2], report[2];
    if (pipe(ready) != 0 || pipe2(report, O_CLOEXEC) != 0) return;
    server_ = fork();
    if (server_ == 0) {
      close(ready[0]);
      if (!lab::EnterPlace(to["cgroup"], to["netns"]).ok()) _exit(2);
      int l = socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(l, 1) != 0) _exit(3);
      if (write(ready[1], "r", 1) != 1) _exit(4);
      int c = accept(l, nullptr, nullptr);
      char b;
      while (c >= 0 && read(c, &b, 1) == 1) {
        if (write(c, &b, 1) != 1) break;
      }
      _exit(0);
    }
    close(ready[1]);
    char r;
    if (read(ready[0], &r, 1) != 1) return;  // the server listens
    close(ready[0]);
    client_ = fork();
    if (client_ == 0) {
      close(report[0]);
      if (!lab::EnterPlace(from["cgroup"], from["netns"]).ok()) _exit(2);
      int c = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, to["ip"].get<std::string>().c_str(), &a.sin_addr);
      if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        (void)!write(report[1], "x", 1);
        _exit(3);
      }
      while (true) {
        char b = 'b', got[64];
        if (write(c, &b, 1) != 1) break;
        pollfd p{c, POLLIN, 0};
        bool echoed = poll(&p, 1, 300) == 1 && read(c, got, sizeof(got)) > 0;
        if (write(report[1], echoed ? "+" : "-", 1) != 1) break;
        if (echoed) usleep(50000);
      }
      _exit(0);
    }
    close(report[1]);
    report_ = report[0];
  }
  ~Conversation() {
    for (pid_t pid : {client_, server_}) {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
    if (report_ >= 0) close(report_);
  }
  bool started() const { return report_ >= 0; }
  // Everything the client reported over the next `ms` milliseconds, or until `stop` is seen.
  std::string Listen(int ms, char stop = 0) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{report_, POLLIN, 0};
      if (poll(&p, 1, 50) != 1) continue;
      char b[64];
      ssize_t n = read(report_, b, sizeof(b));
      if (n <= 0) break;
      out.append(b, static_cast<size_t>(n));
      if (stop && out.find(stop) != std::string::npos) break;
    }
    return out;
  }

 private:
  pid_t server_ = -1, client_ = -1;
  int report_ = -1;
};

// A policy change takes effect on established connections: revoking what admitted a connection
// stops its traffic (both directions' verdicts deny it), allowing it again lets TCP recover the
// same connection, and changes that do not concern it never interrupt it.
TEST_F(LabTest, PolicyChangesTakeEffectOnEstablishedConnections) {
  Write("cluster.yaml", TruthTable());
  // y/a (node n2) accepts x/a (node n1) on TCP 82 and may send nothing itself (egress isolated):
  // its replies pass as replies, and once port 82 is no longer allowed nothing admits them.
  auto policy = [](int port) {
    return absl::StrCat(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-x-a, namespace: y}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: )",
                        port, "}]\n");
  };
  Write("policy.yaml", policy(82));
  Up();
  json from, to;
  for (const auto& p : lab_["pods"]) {
    if (p["key"] == "x/a") from = p;
    if (p["key"] == "y/a") to = p;
  }
  ASSERT_FALSE(from.is_null() || to.is_null()) << lab_["pods"].dump();
  ASSERT_NE(from["node"], to["node"]) << "the connection should cross nodes";
  Conversation conv(from, to, 82);
  ASSERT_TRUE(conv.started());
  std::string first = conv.Listen(3000);
  ASSERT_GE(std::count(first.begin(), first.end(), '+'), 3) << first;
  ASSERT_EQ(first.find_first_of("-x"), std::string::npos) << first;

  // An unrelated change (a new generation everywhere): not one exchange lost.
  long before = ControlReloads();
  Write("other.yaml", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: z-deny, namespace: z}
spec: {podSelector: {}, policyTypes: [Ingress]}
)");
  WaitReload(before);
  std::string during = conv.Listen(1000);
  EXPECT_GE(std::count(during.begin(), during.end(), '+'), 5) << during;
  EXPECT_EQ(during.find('-'), std::string::npos) << during;

  // Revoked: the connection stops carrying traffic.
  before = ControlReloads();
  Write("policy.yaml", policy(83));
  WaitReload(before);
  std::string revoked = conv.Listen(3000, '-');
  ASSERT_NE(revoked.find('-'), std::string::npos) << "still talking after revocation: " << revoked;
  std::string after = conv.Listen(1500);
  EXPECT_EQ(after.find('+'), std::string::npos) << "echoes came back after revocation: " << after;

  // Allowed again: TCP retransmits, and the same connection carries traffic again.
  before = ControlReloads();
  Write("policy.yaml", policy(82));
  WaitReload(before);
  std::string back = conv.Listen(8000, '+');
  EXPECT_NE(back.find('+'), std::string::npos) << "no echo after allowing again: " << back;
}

TEST_F(LabTest, ReferenceScenarioMatrixEqualsExplain) {
  // The agents read the manifests themselves here (the other tests use the control plane).
  UpReference("--serve-ports 8080,53,15443 --no-control");
  // The reference is dual-stack: every pair in each family, each against explain for the
  // addresses of that family.
  ExpectDualStackMatrixEqualsExplain("8080,53,15443");

  // `warden inspect` on each node's pins shows that node's datapath state after the matrix.
  for (const auto& n : lab_["nodes"]) {
    const std::string node = n["name"];
    Result r = Warden("inspect --bpffs " + n["bpffs"].get<std::string>() + " --manifests " +
                      dir_.string() + " --output json");
    ASSERT_EQ(r.code, 0) << node << ": " << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["config"]["configured"], true) << node;
    EXPECT_GE(j["config"]["generation"].get<int>(), 1) << node;
    EXPECT_EQ(j["config"]["pool"], n["pool"]) << node;
    ASSERT_EQ(j["attach"].size(), std::size(datapath::kProgramNames)) << node;
    for (const auto& a : j["attach"]) EXPECT_TRUE(a["attached"].get<bool>()) << node << a.dump();
    // Every pod of this node is an endpoint, named after its identity; every pod's address is
    // in the ipcache with the identity of its endpoint.
    std::map<std::string, uint32_t> ipcache;
    for (const auto& e : j["ipcache"]) ipcache[e["prefix"]] = e["identity"];
    std::set<uint32_t> endpoint_ids;
    for (const auto& e : j["endpoints"]) {
      endpoint_ids.insert(e["identity"].get<uint32_t>());
      EXPECT_FALSE(e["name"].get<std::string>().empty()) << node << e.dump();
    }
    size_t local = 0;
    for (const auto& p : lab_["pods"]) {
      ASSERT_TRUE(ipcache.count(p["ip"].get<std::string>() + "/32")) << p["ip"];
      if (p["node"] != node) continue;
      ++local;
      EXPECT_TRUE(endpoint_ids.count(ipcache[p["ip"].get<std::string>() + "/32"]))
          << node << ": pod " << p["key"] << " has no endpoint of its identity";
    }
    EXPECT_EQ(j["endpoints"].size(), local) << node;
    EXPECT_GT(j["policy"]["entries"].get<int>(), 0) << node;
    // The matrix went through this node: packets were both admitted and refused, and verdicts
    // were cached.
    EXPECT_GT(j["counters"]["egress"].size() + j["counters"]["ingress"].size(), 0u) << r.out;
    EXPECT_GT(j["verdict_cache_entries"].get<int>(), 0) << node;
    Result text = Warden("inspect --bpffs " + n["bpffs"].get<std::string>());
    ASSERT_EQ(text.code, 0) << text.err;
    EXPECT_NE(text.out.find("wd_connect4"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("cached (pod, peer, port) verdicts"), std::string::npos) << text.out;
  }
}

TEST_F(LabTest, LockdownAndEpermAtConnect) {
  UpReference();
  // Row 7: refused at connect, with EPERM, not a time-out.
  EXPECT_EQ(Probe("team-x/app", "203.0.113.66", 8443, "TCP"), "eperm");
  // Row 8: the rogue resolver is refused; kube-dns answers.
  EXPECT_EQ(Probe("team-x/app", "198.51.100.53", 53, "UDP"), "eperm");
  EXPECT_EQ(Probe("team-x/app", "kube-system/kube-dns", 53, "UDP"), "connected");
  // Rows 9, 10: the Google API VIP and the metadata server are reachable directly.
  EXPECT_EQ(Probe("team-x/app", "199.36.153.8", 443, "TCP"), "connected");
  EXPECT_EQ(Probe("team-x/app", "169.254.169.254", 80, "TCP"), "connected");
  // Row 13: a host process on a default-pool node is locked down too; the allowances hold.
  EXPECT_EQ(Probe("node:default-1", "203.0.113.66", 443, "TCP"), "eperm");
  EXPECT_EQ(Probe("node:default-1", "203.0.113.10", 80, "TCP"), "eperm");
  EXPECT_EQ(Probe("node:default-1", "169.254.169.254", 80, "TCP"), "connected");
  EXPECT_EQ(Probe("node:default-1", "team-x/worker", 8080, "TCP"), "connected");
  // Gateway pool: only the gateway's identity leaves, on 80 and 443.
  EXPECT_EQ(Probe("warden-egress/gateway", "203.0.113.66", 443, "TCP"), "connected");
  EXPECT_EQ(Probe("warden-egress/gateway", "203.0.113.66", 8443, "TCP"), "eperm");
  EXPECT_EQ(Probe("node:gateway-1", "203.0.113.66", 443, "TCP"), "eperm");
  // The verdict log names the pod, its namespace and the reason.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::ifstream log(state_ + "/logs/default-1-verdicts.jsonl");
  bool found = false;
  std::string line;
  while (std::getline(log, line)) {
    json j = json::parse(line);
    if (j["dst"] == "203.0.113.66" && j["dport"] == 8443) {
      found = true;
      EXPECT_EQ(j["namespace"], "team-x");
      EXPECT_EQ(j["pod"], "app");
      EXPECT_EQ(j["verdict"], "deny");
      EXPECT_EQ(j["hook"], "connect");
      EXPECT_EQ(j["reason"], "pool-lockdown");
      EXPECT_EQ(j["service_account"], "app-x");
    }
  }
  EXPECT_TRUE(found) << "no verdict log line for team-x/app -> 203.0.113.66:8443";

  // With the control plane too, the log names the NetworkPolicies behind a policy verdict: the
  // ones isolating the pod for a denial (row 11), the allowing one for an admission (row 12).
  EXPECT_EQ(Probe("team-x/app", "team-y/app", 8080, "TCP"), "eperm");
  EXPECT_EQ(Probe("team-x/app", "team-x/worker", 8080, "TCP"), "connected");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::ifstream again(state_ + "/logs/default-1-verdicts.jsonl");
  std::string denied_by, allowed_by;
  while (std::getline(again, line)) {
    json j = json::parse(line);
    if (j["pod"] != "app" || j["namespace"] != "team-x" || j["dport"] != 8080) continue;
    if (j["reason"] == "policy-deny") denied_by = j.value("policy", "");
    if (j["reason"] == "policy-allow" && j["direction"] == "egress")
      allowed_by = j.value("policy", "");
  }
  EXPECT_NE(denied_by.find("team-x/default-deny-all"), std::string::npos) << denied_by;
  EXPECT_EQ(allowed_by, "team-x/allow-same-namespace");
}

// Loopback is not the world: Kubernetes does not let NetworkPolicy block localhost, and a node's
// host processes (kubelet, the container runtime's streaming server for `kubectl exec`) talk over
// 127.0.0.1. On default-1 (default pool: locked down, no allowance for loopback), team-x/app
// (default deny both ways, nothing allowed on 8080 but its own namespace) reaches its own echo
// servers on 127.0.0.1 and [::1], TCP and UDP; a host process reaches the metadata server on
// 127.0.0.1 and the agent's /metrics; the world stays refused. Checked where the flows arrive: the
// servers' `accepted` lines, the metrics body, and no loopback denial in the verdict log.
TEST_F(LabTest, LoopbackIsNotTheWorld) {
  UpReference("--serve-ports 8080");
  std::string app_log, metrics;
  for (size_t j = 0; j < lab_["pods"].size(); ++j) {
    if (lab_["pods"][j]["key"] == "team-x/app")
      app_log = state_ + "/logs/pod-" + std::to_string(j) + ".log";
  }
  for (const auto& n : lab_["nodes"]) {
    if (n["name"] == "default-1") metrics = n["metrics"];
  }
  ASSERT_FALSE(app_log.empty());
  ASSERT_THAT(metrics, ::testing::StartsWith("127.0.0.1:"));

  for (const char* proto : {"TCP", "UDP"}) {
    EXPECT_EQ(Probe("team-x/app", "127.0.0.1", 8080, proto), "connected") << proto;
    EXPECT_EQ(Probe("team-x/app", "::1", 8080, proto), "connected") << proto;
    // The unspecified address: the kernel sends to loopback, the pod's own server.
    EXPECT_EQ(Probe("team-x/app", "0.0.0.0", 8080, proto), "connected") << proto;
    EXPECT_EQ(Probe("team-x/app", "::", 8080, proto), "connected") << proto;
  }
  EXPECT_EQ(Probe("node:default-1", "127.0.0.1", 80, "TCP"), "connected");
  Result scrape = Exec("node:default-1", "curl -sS --max-time 2 http://" + metrics + "/metrics");
  EXPECT_EQ(scrape.code, 0) << scrape.err;
  EXPECT_THAT(scrape.out, HasSubstr("warden_")) << scrape.err;
  // Beside it, the world: refused at connect, for the pod and for the host process.
  EXPECT_EQ(Probe("team-x/app", "203.0.113.66", 8443, "TCP"), "eperm");
  EXPECT_EQ(Probe("node:default-1", "203.0.113.66", 443, "TCP"), "eperm");
  // And the pod's policy still holds for other pods.
  EXPECT_EQ(Probe("team-x/app", "team-y/app", 8080, "TCP"), "eperm");

  // The receiving ends: the pod's own servers saw its loopback connections and datagrams, the
  // node's metadata server the host process's; the internet saw nothing of the refused ones.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string app = Sh("cat " + app_log).out;
  EXPECT_THAT(app, HasSubstr("accepted tcp 127.0.0.1 8080 127.0.0.1 ")) << app;
  EXPECT_THAT(app, HasSubstr("accepted tcp ::1 8080 ::1 ")) << app;
  EXPECT_THAT(app, HasSubstr("accepted udp * 8080 127.0.0.1 ")) << app;
  EXPECT_THAT(app, HasSubstr("accepted udp * 8080 ::1 ")) << app;
  std::string metadata = Sh("cat " + state_ + "/logs/metadata-default-1.log").out;
  EXPECT_THAT(metadata, HasSubstr("accepted tcp 127.0.0.1 80 127.0.0.1 ")) << metadata;
  std::string internet = Sh("cat " + state_ + "/logs/internet.log").out;
  EXPECT_THAT(internet, ::testing::Not(HasSubstr("accepted tcp 203.0.113.66 "))) << internet;
  // The verdict log: loopback allowed as the node's own (host-allow), never refused.
  std::ifstream log(state_ + "/logs/default-1-verdicts.jsonl");
  std::string line;
  int allowed = 0;
  while (std::getline(log, line)) {
    json j = json::parse(line);
    if (j["dst"] != "127.0.0.1" && j["dst"] != "::1") continue;
    EXPECT_EQ(j["verdict"], "allow") << line;
    if (j["reason"] == "host-allow") ++allowed;
  }
  EXPECT_GT(allowed, 0) << "no verdict log line for a loopback flow";

  // The attack the exemption must not open: a pod that may rewrite its own packets (NET_ADMIN,
  // beyond a default container's capabilities) connects to a loopback address (or 0.0.0.0), which
  // the connect hook lets through, and NATs it to the world on the way out. The packet that leaves
  // carries the world address: the cgroup egress program (after netfilter) and the interface
  // program judge that, and refuse it; the internet never sees it.
  const std::string rewrite =
      "sysctl -qw net.ipv4.conf.all.route_localnet=1 && "
      "iptables -t nat -A OUTPUT -p tcp -d 127.0.0.2 --dport 8443 -j DNAT "
      "--to-destination 203.0.113.66:8443 && "
      "iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 8444 -j DNAT "
      "--to-destination 203.0.113.66:8443 && "
      "iptables -t nat -A POSTROUTING -p tcp -d 203.0.113.66 -j MASQUERADE && "
      "curl -sS --max-time 3 -o /dev/null http://127.0.0.2:8443/; echo curl=$?; "
      "curl -sS --max-time 3 -o /dev/null http://0.0.0.0:8444/; echo any=$?";
  Result attack = Exec("team-x/app", "sh -c '" + rewrite + "'", "--privileged");
  EXPECT_THAT(attack.out, HasSubstr("curl=")) << attack.out << attack.err;
  EXPECT_THAT(attack.out, ::testing::Not(HasSubstr("curl=0"))) << attack.out << attack.err;
  // The same through the unspecified address, which the connect hook takes for 127.0.0.1.
  EXPECT_THAT(attack.out, HasSubstr("any=")) << attack.out << attack.err;
  EXPECT_THAT(attack.out, ::testing::Not(HasSubstr("any=0"))) << attack.out << attack.err;
  Exec("team-x/app", "sh -c 'iptables -t nat -F; sysctl -qw net.ipv4.conf.all.route_localnet=0'",
       "--privileged");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  internet = Sh("cat " + state_ + "/logs/internet.log").out;
  EXPECT_THAT(internet, ::testing::Not(HasSubstr("accepted tcp 203.0.113.66 8443"))) << internet;
}

// `warden explain` says what the kernel does for flows from pods to the world too: the node-pool
// lockdown first (default pool: the allowances; gateway pool: gateway pods on TCP 80/443), then
// NetworkPolicy. Every pod to every internet host and the metadata server, for real.
TEST_F(LabTest, PodToWorldEqualsExplainWithTheLockdown) {
  UpReference();
  // explain is given what the control plane was given: its --allow-world and --cluster-cidr.
  std::string flags;
  const auto& argv = lab_["control"]["argv"];
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--allow-world" || argv[i] == "--cluster-cidr")
      flags += " " + argv[i].get<std::string>() + " " + argv[i + 1].get<std::string>();
  }
  ASSERT_NE(flags.find("--allow-world"), std::string::npos) << argv.dump();
  std::vector<std::string> hosts = lab_["inet"]["hosts"];
  hosts.push_back("169.254.169.254");
  int compared = 0, allowed = 0, lockdown = 0;
  for (const auto& p : lab_["pods"]) {
    const std::string pod = p["key"];
    for (const auto& host : hosts) {
      for (int port : {80, 443, 8443}) {
        Result e = Warden("explain --manifests " + dir_.string() + " --from " + pod + " --to " +
                          host + " --port " + std::to_string(port) + flags + " --output json");
        ASSERT_EQ(e.code, 0) << e.err;
        json x = json::parse(e.out);
        const bool want = x["verdict"] == "allow";
        const std::string got =
            IsHttpsHost(host, port) ? ProbeHttps(pod, host) : Probe(pod, host, port, "TCP");
        EXPECT_EQ(got == "connected", want)
            << pod << " -> " << host << ":" << port << ": the kernel says " << got
            << ", explain says " << x["verdict"] << " (" << x["reason"] << ")";
        ++compared;
        allowed += want;
        lockdown += x["egress"].contains("lockdown") && !want;
      }
    }
  }
  // The comparison covered both outcomes and the lockdown itself.
  EXPECT_GT(allowed, 0);
  EXPECT_GT(lockdown, 0);
  EXPECT_EQ(compared, static_cast<int>(lab_["pods"].size() * hosts.size() * 3));
}

// Probes in a loop until stopped; counts every result that differs from what is expected.
struct Prober {
  struct Case {
    std::string from, to;
    int port;
    const char* proto;
    bool allow;
  };
  std::vector<Case> cases;
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0}, wrong{0};
  std::vector<std::string> errors;
  std::thread thread;

  void Start(LabTest* t, std::function<std::string(const Case&)> probe) {
    thread = std::thread([this, probe] {
      while (!stop) {
        for (const auto& c : cases) {
          std::string outcome = probe(c);
          bool ok = c.allow ? outcome == "connected" : (outcome == "eperm" || outcome == "timeout");
          if (!ok) {
            ++wrong;
            if (errors.size() < 20)
              errors.push_back(c.from + " -> " + c.to + ":" + std::to_string(c.port) + " " +
                               outcome);
          }
        }
        ++rounds;
      }
    });
    (void)t;
  }
  void Stop() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

TEST_F(LabTest, AgentKilledAndRestartedLosesNoEnforcement) {
  UpReference();
  Prober p;
  p.cases = {{"team-x/app", "team-x/worker", 8080, "TCP", true},
             {"team-x/app", "team-y/app", 8080, "TCP", false},
             {"team-y/app", "team-x/app", 8080, "TCP", false},
             {"node:default-1", "203.0.113.66", 443, "TCP", false},
             {"team-x/app", "kube-system/kube-dns", 53, "UDP", true}};
  p.Start(this, ProbeCase());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  pid_t agent = 0;
  for (const auto& n : lab_["nodes"]) {
    if (n["name"] == "default-1") agent = n["agent_pid"];
  }
  ASSERT_GT(agent, 0);
  ASSERT_EQ(kill(agent, SIGKILL), 0);
  int before = p.rounds;
  // Enforcement stays while no agent runs, through at least two full rounds.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (p.rounds < before + 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Result r = Warden("lab start-agent --state " + state_ + " --node default-1");
  ASSERT_EQ(r.code, 0) << r.err;
  // The new agent adopts the pinned links in place, once the verifier has taken its programs
  // (several seconds each on these machines, more while other tests load theirs).
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string log;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(state_ + "/logs/default-1.log");
    log.assign(std::istreambuf_iterator<char>(in), {});
    if (log.find("adopted") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(log,
              HasSubstr(absl::StrCat("adopted ", std::size(datapath::kProgramNames), " programs")));
  before = p.rounds;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (p.rounds < before + 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  p.Stop();
  EXPECT_GE(p.rounds, 5);
  EXPECT_EQ(p.wrong, 0) << ::testing::PrintToString(p.errors);
  // And the restarted agent still follows the manifests.
  long loads = ControlReloads();
  Write("99-open.yaml", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: open-8080, namespace: team-y}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out-8080, namespace: team-x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: 8080}]}]
)");
  WaitReload(loads);
  EXPECT_EQ(Probe("team-x/app", "team-y/app", 8080, "TCP"), "connected");
}

TEST_F(LabTest, PolicyUpdatesUnderProbingShowNoFlicker) {
  UpReference();
  Prober p;
  p.cases = {{"team-x/app", "team-x/worker", 8080, "TCP", true},
             {"team-x/worker", "team-x/app", 8080, "TCP", true},
             {"team-x/app", "team-y/app", 8080, "TCP", false},
             {"team-x/app", "kube-system/kube-dns", 53, "UDP", true},
             {"team-y/app", "team-x/worker", 8080, "TCP", false}};
  p.Start(this, ProbeCase());
  // Rewrite team-x's policies again and again: each version changes rules that none of the
  // probed flows depends on, and changes identities' isolation elsewhere.
  const std::string a = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: churn, namespace: team-x}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 198.51.100.0/24}}], ports: [{port: 9999}]}]
)";
  const std::string b = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: churn, namespace: team-x}
spec:
  podSelector: {matchLabels: {app: worker}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {}}], ports: [{port: 7000, endPort: 7100}]}]
  egress: [{to: [{namespaceSelector: {matchLabels: {team: y}}}], ports: [{protocol: UDP, port: 5353}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: churn, namespace: team-y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: y}}}]}]
)";
  for (int i = 0; i < 10; ++i) {
    long loads = ControlReloads();
    Write("50-churn.yaml", i % 2 ? b : a);
    WaitReload(loads);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  p.Stop();
  EXPECT_GE(p.rounds, 3);
  EXPECT_EQ(p.wrong, 0) << ::testing::PrintToString(p.errors);
}

TEST_F(LabTest, ControlPlaneDownAgentsKeepEnforcingAndCatchUpAfter) {
  UpReference();
  Prober p;
  p.cases = {{"team-x/app", "team-x/worker", 8080, "TCP", true},
             {"team-x/app", "team-y/app", 8080, "TCP", false},
             {"team-x/app", "203.0.113.66", 8443, "TCP", false}};
  p.Start(this, ProbeCase());
  ASSERT_EQ(kill(lab_["control"]["pid"].get<pid_t>(), SIGKILL), 0);
  // A change made while the control plane is down reaches nobody yet...
  Write("99-open.yaml", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: open-8081, namespace: team-y}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8081}]}]
)");
  int before = p.rounds;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (p.rounds < before + 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // ... and an agent restarted now comes back enforcing the state it saved.
  pid_t agent = 0;
  for (const auto& n : lab_["nodes"]) {
    if (n["name"] == "default-1") agent = n["agent_pid"];
  }
  ASSERT_EQ(kill(agent, SIGKILL), 0);
  Result r = Warden("lab start-agent --state " + state_ + " --node default-1");
  ASSERT_EQ(r.code, 0) << r.err;
  // Its programs go through the verifier first: seconds each, more under load.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  before = p.rounds;
  while (p.rounds < before + 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string log;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(state_ + "/logs/default-1.log");
    log.assign(std::istreambuf_iterator<char>(in), {});
    if (log.find("enforcing saved version") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(log, HasSubstr("enforcing saved version"));
  // That state is in force once its programs are attached: /ready says so. Loading them takes the
  // verifier seconds, more under load, so the control plane returns only after that.
  std::string ready;
  for (const auto& n : lab_["nodes"]) {
    if (n["name"] != "default-1") continue;
    while (std::chrono::steady_clock::now() < deadline &&
           (ready = Sh("ip netns exec " + n["netns"].get<std::string>() +
                       " curl -s --max-time 2 http://" + n["metrics"].get<std::string>() + "/ready")
                        .out) != "ready\n") {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_EQ(ready, "ready\n") << testlib::LogTail(state_ + "/logs/default-1.log", 20);
  // The control plane returns: everyone catches up, with no gap in enforcement meanwhile.
  r = Warden("lab start-control --state " + state_);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream st(state_ + "/state.json");
  lab_ = json::parse(st);
  long reloads = -1;
  while (std::chrono::steady_clock::now() < deadline && (reloads = ControlReloads()) < 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  WaitReload(reloads - 1);
  p.Stop();
  EXPECT_GE(p.rounds, 6);
  EXPECT_EQ(p.wrong, 0) << ::testing::PrintToString(p.errors);
  // team-y/app now serves 8081 to everyone... but team-x's own egress still says no.
  EXPECT_EQ(Probe("team-x/app", "team-y/app", 8081, "TCP"), "eperm");
  EXPECT_EQ(Probe("node:default-2", "team-y/app", 8081, "TCP"),
            "refused");  // admitted, nothing listens
}

// Pod x/`name` on `node`, serving port 80 on TCP and UDP, with `status`.
std::string ServingPod(const std::string& name, const std::string& node,
                       const std::string& status) {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         ", namespace: x}\nspec:\n  nodeName: " + node +
         "\n  containers: [{name: c, ports: [{containerPort: 80}, {containerPort: 80, protocol: "
         "UDP}]}]\nstatus: " +
         status + "\n";
}

// Pods on two nodes that have no Node object: the nodes exist only as the pods' spec.nodeName,
// with no podCIDR to route. x/a and x/b are dual-stack, x/c has an IPv6 address only.
const std::string kPodsWithoutNodes =
    ServingPod("a", "n1",
               R"({podIP: 10.244.1.10, podIPs: [{ip: 10.244.1.10}, {ip: "fd00:10:244:1::10"}]})") +
    ServingPod("b", "n2",
               R"({podIP: 10.244.2.10, podIPs: [{ip: 10.244.2.10}, {ip: "fd00:10:244:2::10"}]})") +
    ServingPod("c", "n2", R"({podIP: "fd00:10:244:2::20"})");

// `lab exec` is the lab's `kubectl exec`: the command runs in the pod's cgroup and network
// namespace with the caller's stdin, stdout and stderr, its exit status is exec's, and in a pod
// it has only the capabilities a container gets by default (NET_RAW, not NET_ADMIN) unless
// --privileged.
TEST_F(LabTest, ExecRunsCommandsInsidePodsWithContainerCapabilities) {
  Write("cluster.yaml", kPodsWithoutNodes);
  // A descriptor of the caller's (as flock's lock) must not outlive `lab up` in the daemons.
  std::string marker = dir_.string() + "/inherited";
  std::ofstream(marker) << "x";
  Up("--no-control 9<" + marker);
  std::vector<pid_t> daemons;
  for (const auto& n : lab_["nodes"]) daemons.push_back(n["agent_pid"]);
  for (const auto& p : lab_["pods"]) daemons.push_back(p["server_pid"]);
  for (pid_t pid : daemons) {
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
      std::error_code ec;
      EXPECT_NE(fs::read_symlink(fd.path(), ec), marker) << "pid " << pid << " " << fd.path();
    }
  }

  // Exit status, stdout, stderr, stdin.
  EXPECT_EQ(Exec("x/a", "sh -c 'exit 7'").code, 7);
  Result r = Exec("x/a", "sh -c 'echo out; echo err >&2'");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  r = Sh("echo hello | " + WardenBin() + " lab exec --state " + state_ + " --in x/a -- cat");
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(Exec("x/a", "sh -c 'kill -TERM $$'").code, 128 + SIGTERM);
  // A signal the caller ignores stays ignored in the command (exec ignores SIGINT itself while
  // it waits).
  r = Sh("trap '' INT; " + WardenBin() + " lab exec --state " + state_ +
         " --in x/a -- sh -c 'kill -INT $$; echo survived'");
  EXPECT_EQ(r.out, "survived\n") << r.code << r.err;
  Result missing = Exec("x/a", "/nonexistent/command");
  EXPECT_EQ(missing.code, 127);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/command"));

  // The place: the pod's network namespace and cgroup; a node's; the internet's.
  auto netns_of = [](const std::string& name) {
    return "net:[" + testlib::ShOut("stat -L -c %i /var/run/netns/" + name) + "]";
  };
  const json& a = Pod("x/a");
  r = Exec("x/a", "sh -c 'readlink /proc/self/ns/net; grep -x $$ " +
                      a["cgroup"].get<std::string>() +
                      "/cgroup.procs && echo in-cgroup; ip -o addr show dev eth0'");
  EXPECT_THAT(r.out, HasSubstr(netns_of(a["netns"]) + "\n"));
  EXPECT_THAT(r.out, HasSubstr("in-cgroup\n"));
  EXPECT_THAT(r.out, HasSubstr(" " + a["ip"].get<std::string>() + "/32 "));
  EXPECT_THAT(r.out, HasSubstr(" " + a["ip6"].get<std::string>() + "/128 "));
  r = Exec("node:n2", "readlink /proc/self/ns/net");
  EXPECT_EQ(r.out, netns_of(lab_["nodes"][1]["netns"]) + "\n") << r.err;
  r = Exec("internet", "ip -o addr show dev lo");
  EXPECT_THAT(r.out, HasSubstr(" 203.0.113.10/32 "));
  EXPECT_THAT(r.out, HasSubstr(" 2001:db8::10/128 "));

  // Capabilities: a container's default set in a pod (what the caller has of it), all of the
  // caller's with --privileged and on nodes.
  auto caps = [](const std::string& status_text, const std::string& field) {
    size_t at = status_text.find(field + ":\t");
    return at == std::string::npos
               ? ~0ull
               : std::stoull(status_text.substr(at + field.size() + 2), nullptr, 16);
  };
  std::string own = testlib::ShOut("cat /proc/self/status");
  const unsigned long long kContainerDefault = 0xa80425fb;  // containerd's defaultUnixCaps
  std::string in_pod = Exec("x/a", "cat /proc/self/status").out;
  EXPECT_EQ(caps(in_pod, "CapEff"), kContainerDefault & caps(own, "CapPrm"));
  EXPECT_EQ(caps(in_pod, "CapPrm"), kContainerDefault & caps(own, "CapPrm"));
  EXPECT_EQ(caps(in_pod, "CapBnd"), kContainerDefault & caps(own, "CapPrm"));
  EXPECT_EQ(caps(in_pod, "CapInh"), 0u);
  EXPECT_EQ(caps(in_pod, "CapAmb"), 0u);
  EXPECT_TRUE(caps(in_pod, "CapEff") & (1ull << 13)) << "NET_RAW, as in a container";
  EXPECT_EQ(caps(Exec("x/a", "cat /proc/self/status", "--privileged").out, "CapEff"),
            caps(own, "CapEff"));
  EXPECT_EQ(caps(Exec("node:n1", "cat /proc/self/status").out, "CapEff"), caps(own, "CapEff"));
  // Without NET_ADMIN a pod cannot make devices; --privileged can.
  r = Exec("x/a", "ip link add wlt0 type veth peer name wlt1");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("Operation not permitted"));
  r = Exec("x/a", "ip link add wlt0 type veth peer name wlt1", "--privileged");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Exec("x/a", "ip link show wlt0").code, 0);

  // Errors name the flag.
  r = Exec("x/nope", "true");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--in x/nope: no such pod in the lab"));
  r = Exec("node:nope", "true");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--in node:nope"));
  r = Warden("lab exec --state " + state_ + " --in x/a");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("no command"));
  r = Warden("lab exec --state " + dir_.string() + "/no-lab --in x/a -- true");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--state " + dir_.string() + "/no-lab: no lab is up"));
}

// The agent reports pods whose processes hold NET_RAW or NET_ADMIN (packet sockets and tunnels
// pass beside the cgroup programs): the lab's pod servers have a container's default set, so
// NET_RAW; a privileged command in a pod adds NET_ADMIN, logged once when gained.
TEST_F(LabTest, AgentReportsPodsHoldingNetRawOrNetAdmin) {
  Write("cluster.yaml", kPodsWithoutNodes);
  Up("--no-control");
  const json& n1 = lab_["nodes"][0];
  ASSERT_EQ(n1["name"], "n1");
  auto series = [](const std::string& cap) {
    return "warden_pod_capability{node=\"n1\",namespace=\"x\",pod=\"a\",capability=\"" + cap +
           "\"}";
  };
  auto wait_for = [&](const std::string& cap, long want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(25);
    long got = -1;
    while (std::chrono::steady_clock::now() < deadline &&
           (got = Metric(n1["netns"], n1["metrics"], series(cap))) != want) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return got;
  };
  EXPECT_EQ(wait_for("NET_RAW", 1), 1);
  EXPECT_EQ(Metric(n1["netns"], n1["metrics"], series("NET_ADMIN")), -1);

  // A privileged process in the pod, for as long as the check takes to see it; ended by its pid.
  std::string pid_file = dir_.string() + "/privileged.pid";
  pid_t exec_pid =
      testlib::Spawn({WardenBin(), "lab", "exec", "--state", state_, "--in", "x/a", "--privileged",
                      "--", "sh", "-c", "echo $$ > " + pid_file + "; exec sleep 60"},
                     dir_.string() + "/privileged.log");
  EXPECT_EQ(wait_for("NET_ADMIN", 1), 1);
  std::ifstream in(state_ + "/logs/n1.log");
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(log, HasSubstr("pod x/a runs with NET_ADMIN"));
  pid_t sleeper = 0;
  std::ifstream(pid_file) >> sleeper;
  ASSERT_GT(sleeper, 0);
  kill(sleeper, SIGKILL);
  testlib::EndChild(exec_pid);
  EXPECT_EQ(wait_for("NET_ADMIN", -1), -1) << "the report ends with the process";
}

// Routing, without agents: pods on nodes without a Node object (so without podCIDRs) reach each
// other across nodes, and the internet reaches them, in both families: each pod's address is
// routed via its node.
TEST_F(LabTest, PodsOutsidePodCidrsAreRoutedAcrossNodesAndFromTheInternet) {
  Write("cluster.yaml", kPodsWithoutNodes);
  Up("--no-agents");
  Result m = Warden("lab matrix --state " + state_ +
                    " --ports 80 --protocols TCP,UDP --timeout-ms 1000 --output json");
  ASSERT_EQ(m.code, 0) << m.err;
  // IPv4: x/a and x/b; IPv6: all three. Both ways, TCP and UDP.
  auto rows = json::parse(m.out)["results"];
  EXPECT_EQ(rows.size(), (2u + 6u) * 2u) << m.out;
  for (const auto& r : rows) EXPECT_EQ(r["outcome"], "connected") << r.dump();
  for (const char* pod : {"x/a", "x/b", "x/c"}) {
    for (int family : {4, 6}) {
      if (Pod(pod)[family == 6 ? "ip6" : "ip"] == "") continue;
      EXPECT_EQ(Probe("internet", pod, 80, "TCP", 1000, family), "connected") << pod << family;
      EXPECT_EQ(Probe("node:n1", pod, 80, "UDP", 1000, family), "connected") << pod << family;
    }
  }
  EXPECT_EQ(Probe("x/c", "2001:db8::10", 443, "TCP", 1000), "connected");
  EXPECT_EQ(Probe("x/b", "203.0.113.10", 443, "TCP", 1000), "connected");
}

// Dual-stack pods (and one IPv6-only pod) under agents and a control plane, with policies whose
// ipBlocks make the two families' verdicts differ: the real packets of each family agree with
// `warden explain`, and IPv6 to the world is refused as IPv4 is.
TEST_F(LabTest, DualStackMatrixEqualsExplainForBothFamilies) {
  UpFrom("tests/e2e/testdata/dual-stack");
  ExpectDualStackMatrixEqualsExplain("80,81");
  EXPECT_EQ(Probe("x/a", "2001:db8::66", 443, "TCP"), "eperm");
  EXPECT_EQ(Probe("y/b", "2001:db8::53", 53, "UDP"), "eperm");
  EXPECT_EQ(Probe("node:n1", "2001:db8::10", 80, "TCP"), "eperm");
  EXPECT_EQ(Probe("x/a", "x/b", 81, "TCP", 500, 6), "connected");
  EXPECT_EQ(Probe("x/a", "x/b", 80, "TCP", 500, 6), "eperm");
  EXPECT_EQ(Probe("x/a", "x/b", 80, "TCP", 500, 4), "connected");
}

}  // namespace
// A cluster with many small services (issue 13): 400 NetworkPolicies in one namespace, each
// allowing egress to one address (a pod's, as an ipBlock /32) on its own TCP port. The port lists
// alone need more port sets than the datapath's old fixed table (256) held, and each target's
// union of 100 spaced ports is a set of 100 ranges. Every agent applies it (lab up waits for
// them), and the real packets answer as `warden explain` says on ports of every kind: a
// policy's own port, another target's, one no policy names.
TEST_F(LabTest, FourHundredPoliciesWithTheirOwnPortsApplyAndMatchExplain) {
  constexpr int kPolicies = 400, kTargets = 4, kFirstPort = 20000;
  std::string cluster = std::string(kTruthTableCluster) +
                        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"
                        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\n"
                        "spec: {nodeName: n1, containers: [{name: c}]}\n"
                        "status: {podIP: 10.244.1.10}\n";
  auto target_ip = [](int t) {
    return "10.244." + std::to_string(1 + t % 2) + "." + std::to_string(20 + t);
  };
  for (int t = 0; t < kTargets; ++t) {
    cluster += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: t" + std::to_string(t) +
               ", namespace: x}\nspec: {nodeName: n" + std::to_string(1 + t % 2) +
               ", containers: [{name: c}]}\nstatus: {podIP: " + target_ip(t) + "}\n";
  }
  std::string policies;
  for (int i = 0; i < kPolicies; ++i) {
    policies += "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p" +
                std::to_string(i) +
                ", namespace: x}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n"
                "  egress:\n  - to: [{ipBlock: {cidr: " +
                target_ip(i % kTargets) +
                "/32}}]\n    ports: [{port: " + std::to_string(kFirstPort + i) + "}]\n";
  }
  Write("cluster.yaml", cluster);
  Write("policies.yaml", policies);
  // Target t's ports are 20000 + t + 4k; 20000-20003 are each target's first, 20397-20399 the
  // last ones, 20400 is nobody's.
  const std::string ports = "20000,20001,20002,20003,20101,20397,20398,20399,20400";
  Up("--serve-ports " + ports);
  ExpectMatrixEqualsExplain("400 policies", ports);
  // The node tables hold the sets: one of them a run of 100 ranges.
  Result in = Warden("inspect --bpffs " + lab_["nodes"][0]["bpffs"].get<std::string>() +
                     " --entries --output json");
  ASSERT_EQ(in.code, 0) << in.err;
  EXPECT_THAT(in.out, HasSubstr("TCP/20000,20004,20008")) << "x/a's set toward t0";
}

}  // namespace warden::e2e
