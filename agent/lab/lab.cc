#include "agent/lab/lab.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/cgroup.h"
#include "agent/lab/probe.h"
#include "agent/policy/manifest_loader.h"

namespace warden::lab {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kBpffsRoot = "/sys/fs/bpf/warden-lab";
constexpr const char* kNetnsPrefix = "wl-";
constexpr const char* kControlIp = "10.10.0.2";
// The "internet": TEST-NET hosts of the reference scenario and the Google API VIPs.
const std::vector<std::string> kWorldHosts = {"203.0.113.10",  "203.0.113.20", "203.0.113.66",
                                              "198.51.100.53", "199.36.153.8", "199.36.153.4"};
// What default-pool nodes may still reach directly (metadata server, Google API VIPs).
const std::vector<std::string> kAllowances = {"169.254.169.254/32:80/TCP",
                                              "199.36.153.8/30:443/TCP", "199.36.153.4/30:443/TCP"};

absl::Status Sh(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  if (rc != 0) {
    // Run it again to show what it said.
    std::system((cmd + " 1>&2").c_str());
    return absl::InternalError(absl::StrCat("`", cmd, "` failed (exit ", WEXITSTATUS(rc), ")"));
  }
  return absl::OkStatus();
}

#define LAB_SH(...)                                                      \
  do {                                                                   \
    if (auto st_ = Sh(absl::StrCat(__VA_ARGS__)); !st_.ok()) return st_; \
  } while (0)

std::string Self(const LabOptions& o) {
  if (!o.warden_binary.empty()) return o.warden_binary;
  return fs::read_symlink("/proc/self/exe").string();
}

// Starts `argv` detached (own session), output appended to `log`; returns its pid.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    setsid();
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (null >= 0) dup2(null, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Replaces state.json atomically: probes running in parallel read it.
void WriteState(const std::string& dir, const json& state) {
  std::string tmp = dir + "/state.json.tmp";
  std::ofstream(tmp) << state.dump(2) << "\n";
  std::rename(tmp.c_str(), (dir + "/state.json").c_str());
}

absl::StatusOr<json> ReadState(const std::string& dir) {
  std::ifstream in(dir + "/state.json");
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("no lab is up (", dir, "/state.json missing): run `scripts/lab up`"));
  try {
    return json::parse(in);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(dir, "/state.json: ", e.what()));
  }
}

// A lab CA and a certificate per name ("name[,IP:a,DNS:b]"), whose SANs hold the name: what
// scripts/gen-certs does for real deployments.
absl::Status MakePki(const std::string& dir, const std::vector<std::string>& specs) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  LAB_SH(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "
      "/CN=warden-lab-ca -keyout ",
      dir, "/ca-key.pem -out ", dir, "/ca.pem");
  for (const auto& spec : specs) {
    std::string name = spec.substr(0, spec.find(','));
    std::string sans = "DNS:" + name;
    if (spec.find(',') != std::string::npos) absl::StrAppend(&sans, spec.substr(spec.find(',')));
    std::string base = absl::StrCat(dir, "/", name);
    std::ofstream(base + ".ext") << "subjectAltName=" << sans
                                 << "\nextendedKeyUsage=serverAuth,clientAuth\n";
    LAB_SH("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=", name,
           " -keyout ", base, "-key.pem -out ", base, ".csr");
    LAB_SH("openssl x509 -req -in ", base, ".csr -CA ", dir, "/ca.pem -CAkey ", dir,
           "/ca-key.pem -CAcreateserial -days 30 -extfile ", base, ".ext -out ", base, ".pem");
    fs::remove(base + ".csr", ec);
    fs::remove(base + ".ext", ec);
  }
  return absl::OkStatus();
}

std::vector<std::string> LabNetns() {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/var/run/netns", ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(kNetnsPrefix, 0) == 0) out.push_back(n);
  }
  return out;
}

std::string Ports(const std::vector<int>& p) { return absl::StrJoin(p, ","); }

// Starts a lab daemon (agent, control plane) inside the lab's agents cgroup, output to `log`.
absl::StatusOr<pid_t> StartProcess(const json& state, std::vector<std::string> argv,
                                   const std::string& log) {
  std::string cg = state["lab_cgroup"].get<std::string>() + "/agents";
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    common::MoveToCgroup(cg, getpid()).IgnoreError();
    setsid();
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

absl::StatusOr<pid_t> StartAgent(const json& state, const json& node,
                                 const std::string& state_dir) {
  return StartProcess(state, node["agent_argv"],
                      absl::StrCat(state_dir, "/logs/", node["name"].get<std::string>(), ".log"));
}

}  // namespace

absl::Status LabDown(const std::string& state_dir) {
  auto mount = common::FindCgroup2Mount();
  std::string lab_cg = mount.ok() ? *mount + "/warden-lab" : "";
  if (!lab_cg.empty()) common::KillCgroupProcesses(lab_cg);
  for (const auto& ns : LabNetns()) Sh("ip netns del " + ns).IgnoreError();
  if (!lab_cg.empty()) common::RemoveCgroupTree(lab_cg).IgnoreError();
  std::error_code ec;
  fs::remove_all(kBpffsRoot, ec);  // unpinning the links detaches the programs
  fs::remove_all(state_dir, ec);
  return absl::OkStatus();
}

absl::Status LabUp(const LabOptions& o) {
  LabDown(o.state_dir).IgnoreError();
  policy::LoadResult loaded = policy::LoadManifestDir(o.manifests);
  for (const auto& e : loaded.errors) std::cerr << "lab: manifest error: " << e.ToString() << "\n";
  if (!loaded.errors.empty()) return absl::InvalidArgumentError("fix the manifests first");
  const policy::ClusterState& st = loaded.state;
  auto mount = common::FindCgroup2Mount();
  if (!mount.ok()) return mount.status();
  std::string lab_cg = *mount + "/warden-lab";
  std::error_code ec;
  fs::create_directories(o.state_dir + "/logs", ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", o.state_dir, ": ", ec.message()));
  fs::create_directories(lab_cg + "/world", ec);
  fs::create_directories(lab_cg + "/agents", ec);
  if (ec)
    return absl::InternalError(absl::StrCat("creating cgroups under ", lab_cg, ": ", ec.message()));

  // Nodes: declared ones, then any a pod names.
  std::vector<std::string> node_names;
  for (const auto& [n, _] : st.nodes) node_names.push_back(n);
  for (const auto& [_, p] : st.pods) {
    if (!p.node_name.empty() &&
        std::find(node_names.begin(), node_names.end(), p.node_name) == node_names.end()) {
      node_names.push_back(p.node_name);
    }
  }
  if (node_names.empty())
    return absl::InvalidArgumentError("no nodes: declare Node objects or give pods spec.nodeName");
  json state;
  state["manifests"] = fs::absolute(o.manifests).string();
  state["lab_cgroup"] = lab_cg;
  std::string router = "10.10.0.254", subnet = "10.10.0.0/24";

  LAB_SH("ip netns add wl-fabric");
  LAB_SH("ip -n wl-fabric link set lo up");
  LAB_SH("ip -n wl-fabric link add br0 type bridge");
  LAB_SH("ip -n wl-fabric link set br0 up");
  // The internet.
  LAB_SH("ip netns add wl-inet");
  LAB_SH("ip -n wl-inet link set lo up");
  LAB_SH("ip link add wlinet type veth peer name wlinetc");
  LAB_SH("ip link set wlinet netns wl-fabric");
  LAB_SH("ip link set wlinetc netns wl-inet name eth0");
  LAB_SH("ip -n wl-fabric link set wlinet master br0 up");
  LAB_SH("ip -n wl-inet addr add ", router, "/24 dev eth0");
  LAB_SH("ip -n wl-inet link set eth0 up");
  for (const auto& h : kWorldHosts) LAB_SH("ip -n wl-inet addr add ", h, "/32 dev lo");
  state["inet"] = {{"netns", "wl-inet"}, {"cgroup", lab_cg + "/world"}, {"hosts", kWorldHosts}};

  json nodes = json::array();
  std::map<std::string, std::string> node_ip;
  for (size_t i = 0; i < node_names.size(); ++i) {
    const std::string& name = node_names[i];
    std::string ip = absl::StrCat("10.10.0.", 11 + i);
    auto it = st.nodes.find(name);
    std::vector<std::string> pod_cidrs;
    std::string pool = "default";
    if (it != st.nodes.end()) {
      for (const auto& a : it->second.addresses) {
        if (a.family == policy::Family::kV4) {
          ip = a.ToString();
          break;
        }
      }
      for (const auto& c : it->second.pod_cidrs) pod_cidrs.push_back(c.ToString());
      auto l = it->second.labels.find("cloud.google.com/gke-nodepool");
      if (l != it->second.labels.end() && l->second == "gateway") pool = "gateway";
    }
    node_ip[name] = ip;
    std::string ns = absl::StrCat("wl-node-", i);
    std::string cg = absl::StrCat(lab_cg, "/", name);
    for (const char* sub : {"", "/system", "/kubepods", "/kubepods/burstable"})
      fs::create_directories(cg + sub, ec);
    LAB_SH("ip netns add ", ns);
    LAB_SH("ip -n ", ns, " link set lo up");
    LAB_SH("ip link add wln", i, " type veth peer name wln", i, "c");
    LAB_SH("ip link set wln", i, " netns wl-fabric");
    LAB_SH("ip link set wln", i, "c netns ", ns, " name eth0");
    LAB_SH("ip -n wl-fabric link set wln", i, " master br0 up");
    LAB_SH("ip -n ", ns, " addr add ", ip, "/24 dev eth0");
    LAB_SH("ip -n ", ns, " link set eth0 up");
    LAB_SH("ip -n ", ns, " route add default via ", router);
    LAB_SH("ip netns exec ", ns,
           " sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
           "net.ipv4.conf.default.rp_filter=0");
    LAB_SH("ip -n ", ns, " addr add 169.254.169.254/32 dev lo");  // the metadata server
    for (const auto& c : pod_cidrs) LAB_SH("ip -n wl-inet route add ", c, " via ", ip);
    nodes.push_back({{"name", name},
                     {"netns", ns},
                     {"ip", ip},
                     {"pool", pool},
                     {"cgroup", cg},
                     {"system_cgroup", cg + "/system"},
                     {"bpffs", absl::StrCat(kBpffsRoot, "/", name)},
                     {"pod_cidrs", pod_cidrs}});
  }
  // Routes between nodes: each node's podCIDRs via its address.
  for (const auto& a : nodes) {
    for (const auto& b : nodes) {
      if (a["name"] == b["name"]) continue;
      for (const auto& c : b["pod_cidrs"]) {
        LAB_SH("ip -n ", a["netns"].get<std::string>(), " route add ", c.get<std::string>(),
               " via ", b["ip"].get<std::string>());
      }
    }
  }

  // Pods.
  json pods = json::array();
  std::string self = Self(o);
  size_t j = 0;
  std::map<std::string, json> node_by_name;
  for (const auto& n : nodes) node_by_name[n["name"]] = n;
  for (const auto& [key, pod] : st.pods) {
    if (pod.host_network || pod.node_name.empty()) continue;
    std::string ip;
    for (const auto& a : pod.ips) {
      if (a.family == policy::Family::kV4) {
        ip = a.ToString();
        break;
      }
    }
    if (ip.empty()) {
      std::cerr << "lab: pod " << key << " has no IPv4 status.podIP; not created\n";
      continue;
    }
    const json& node = node_by_name[pod.node_name];
    std::string nns = node["netns"];
    std::string ns = absl::StrCat("wl-pod-", j);
    std::string pod_cg =
        absl::StrCat(node["cgroup"].get<std::string>(), "/kubepods/burstable/pod", pod.uid);
    fs::create_directories(pod_cg + "/probe", ec);
    if (ec) return absl::InternalError(absl::StrCat("creating ", pod_cg, ": ", ec.message()));
    LAB_SH("ip netns add ", ns);
    LAB_SH("ip -n ", ns, " link set lo up");
    LAB_SH("ip link add wlp", j, " type veth peer name wlp", j, "c");
    LAB_SH("ip link set wlp", j, " netns ", nns);
    LAB_SH("ip link set wlp", j, "c netns ", ns, " name eth0");
    LAB_SH("ip -n ", ns, " addr add ", ip, "/32 dev eth0");
    LAB_SH("ip -n ", ns, " link set eth0 up");
    LAB_SH("ip -n ", ns, " route add 169.254.1.1 dev eth0 scope link");
    LAB_SH("ip -n ", ns, " route add default via 169.254.1.1 dev eth0");
    LAB_SH("ip -n ", nns, " link set wlp", j, " up");
    // Proxy ARP answers the pod's gateway (169.254.1.1); without proxy_delay=0 the kernel
    // delays those answers by up to 0.8 s.
    LAB_SH("ip netns exec ", nns, " sysctl -qw net.ipv4.conf.wlp", j,
           ".proxy_arp=1 net.ipv4.neigh.wlp", j, ".proxy_delay=0");
    // Host processes reach their pods from the node's own address (as on a real node), not
    // from the metadata address on lo.
    LAB_SH("ip -n ", nns, " route add ", ip, "/32 dev wlp", j, " src ",
           node["ip"].get<std::string>());
    std::vector<int> tcp, udp;
    for (const auto& cp : pod.ports) {
      if (cp.protocol == policy::Protocol::kTCP) tcp.push_back(cp.port);
      if (cp.protocol == policy::Protocol::kUDP) udp.push_back(cp.port);
    }
    for (int sp : o.serve_ports) {
      if (std::find(tcp.begin(), tcp.end(), sp) == tcp.end()) tcp.push_back(sp);
      if (std::find(udp.begin(), udp.end(), sp) == udp.end()) udp.push_back(sp);
    }
    json pj = {{"key", key},
               {"node", pod.node_name},
               {"netns", ns},
               {"cgroup", pod_cg + "/probe"},
               {"ip", ip}};
    if (!tcp.empty() || !udp.empty()) {
      auto pid = Spawn({self, "lab", "serve", "--cgroup", pod_cg + "/probe", "--netns", ns, "--tcp",
                        Ports(tcp), "--udp", Ports(udp)},
                       absl::StrCat(o.state_dir, "/logs/pod-", j, ".log"));
      if (!pid.ok()) return pid.status();
      pj["server_pid"] = *pid;
    }
    pods.push_back(pj);
    ++j;
  }
  // Servers on the node (metadata) and on the internet hosts.
  for (const auto& n : nodes) {
    auto pid =
        Spawn({self, "lab", "serve", "--cgroup", n["system_cgroup"], "--netns", n["netns"], "--tcp",
               "80"},
              absl::StrCat(o.state_dir, "/logs/metadata-", n["name"].get<std::string>(), ".log"));
    if (!pid.ok()) return pid.status();
  }
  auto inet_pid = Spawn({self, "lab", "serve", "--cgroup", lab_cg + "/world", "--netns", "wl-inet",
                         "--tcp", "80,443,8443,53", "--udp", "53"},
                        o.state_dir + "/logs/internet.log");
  if (!inet_pid.ok()) return inet_pid.status();
  state["nodes"] = nodes;
  state["pods"] = pods;

  // The control plane, in a network namespace of its own on the fabric, with a lab PKI.
  std::string pki = o.state_dir + "/pki";
  if (o.agents && o.control) {
    std::vector<std::string> names = {"warden-control,IP:" + std::string(kControlIp)};
    for (const auto& n : state["nodes"]) names.push_back(n["name"]);
    if (auto st = MakePki(pki, names); !st.ok()) return st;
    LAB_SH("ip netns add wl-control");
    LAB_SH("ip -n wl-control link set lo up");
    LAB_SH("ip link add wlctl type veth peer name wlctlc");
    LAB_SH("ip link set wlctl netns wl-fabric");
    LAB_SH("ip link set wlctlc netns wl-control name eth0");
    LAB_SH("ip -n wl-fabric link set wlctl master br0 up");
    LAB_SH("ip -n wl-control addr add ", kControlIp, "/24 dev eth0");
    LAB_SH("ip -n wl-control link set eth0 up");
    std::vector<std::string> argv = {self,
                                     "control",
                                     "--netns",
                                     "wl-control",
                                     "--manifests",
                                     state["manifests"],
                                     "--listen",
                                     absl::StrCat(kControlIp, ":9443"),
                                     "--tls-cert",
                                     pki + "/warden-control.pem",
                                     "--tls-key",
                                     pki + "/warden-control-key.pem",
                                     "--client-ca",
                                     pki + "/ca.pem",
                                     "--metrics",
                                     "127.0.0.1:19099",
                                     "--cluster-cidr",
                                     subnet};
    for (const auto& a : kAllowances) {
      argv.push_back("--allow-world");
      argv.push_back(a);
    }
    state["control"] = {{"netns", "wl-control"},
                        {"address", absl::StrCat(kControlIp, ":9443")},
                        {"metrics", "127.0.0.1:19099"},
                        {"argv", argv}};
    auto pid = StartProcess(state, argv, o.state_dir + "/logs/control.log");
    if (!pid.ok()) return pid.status();
    state["control"]["pid"] = *pid;
  }

  // One agent per node, in its node's network namespace (as a hostNetwork DaemonSet), in the
  // lab's agents cgroup (so that `down` finds it by cgroup).
  if (o.agents) {
    int metrics_port = 19100;
    for (auto& n : state["nodes"]) {
      std::string name = n["name"];
      std::vector<std::string> argv = {self,
                                       "node",
                                       "--node",
                                       name,
                                       "--netns",
                                       n["netns"],
                                       "--cgroup-root",
                                       n["cgroup"],
                                       "--bpffs",
                                       n["bpffs"],
                                       "--pool",
                                       n["pool"],
                                       "--log",
                                       absl::StrCat(o.state_dir, "/logs/", name, "-verdicts.jsonl"),
                                       "--metrics",
                                       absl::StrCat("127.0.0.1:", metrics_port)};
      if (o.control) {
        for (const char* f : {"--control", "--tls-cert", "--tls-key", "--tls-ca",
                              "--tls-server-name", "--state-dir"}) {
          argv.push_back(f);
          if (std::string(f) == "--control") argv.push_back(absl::StrCat(kControlIp, ":9443"));
          if (std::string(f) == "--tls-cert") argv.push_back(absl::StrCat(pki, "/", name, ".pem"));
          if (std::string(f) == "--tls-key")
            argv.push_back(absl::StrCat(pki, "/", name, "-key.pem"));
          if (std::string(f) == "--tls-ca") argv.push_back(pki + "/ca.pem");
          if (std::string(f) == "--tls-server-name") argv.push_back("warden-control");
          if (std::string(f) == "--state-dir") argv.push_back(o.state_dir + "/agent-state");
        }
      } else {
        argv.insert(argv.end(), {"--manifests", state["manifests"], "--cluster-cidr", subnet});
      }
      for (const auto& a : kAllowances) {
        argv.push_back("--allow-world");
        argv.push_back(a);
      }
      argv.insert(argv.end(), o.agent_args.begin(), o.agent_args.end());
      n["metrics"] = absl::StrCat("127.0.0.1:", metrics_port++);
      n["agent_argv"] = argv;
      auto pid = StartAgent(state, n, o.state_dir);
      if (!pid.ok()) return pid.status();
      n["agent_pid"] = *pid;
    }
    // Ready when every program of every node is attached (its link pinned).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (const auto& n : state["nodes"]) {
      // Attached, and (with a control plane) the first state applied and saved.
      std::string pin = n["bpffs"].get<std::string>() + "/links/wd_sendmsg6";
      std::string saved =
          absl::StrCat(o.state_dir, "/agent-state/", n["name"].get<std::string>(), ".state");
      while (access(pin.c_str(), F_OK) != 0 || (o.control && access(saved.c_str(), F_OK) != 0)) {
        int status;
        if (waitpid(n["agent_pid"].get<pid_t>(), &status, WNOHANG) != 0) {
          return absl::InternalError(
              absl::StrCat("the agent of node ", n["name"].get<std::string>(), " exited; see ",
                           o.state_dir, "/logs/", n["name"].get<std::string>(), ".log"));
        }
        if (std::chrono::steady_clock::now() > deadline) {
          return absl::DeadlineExceededError(absl::StrCat(
              "the agent of node ", n["name"].get<std::string>(), " did not attach in 20 s"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  WriteState(o.state_dir, state);
  return absl::OkStatus();
}

namespace {

struct Place {
  std::string cgroup, netns;
};

absl::StatusOr<Place> PlaceOf(const json& state, const std::string& from) {
  if (from.rfind("node:", 0) == 0) {
    for (const auto& n : state["nodes"]) {
      if (n["name"] == from.substr(5)) return Place{n["system_cgroup"], n["netns"]};
    }
    return absl::NotFoundError(absl::StrCat("--from ", from, ": no such node in the lab"));
  }
  if (from == "internet") return Place{state["inet"]["cgroup"], state["inet"]["netns"]};
  for (const auto& p : state["pods"]) {
    if (p["key"] == from) return Place{p["cgroup"], p["netns"]};
  }
  return absl::NotFoundError(
      absl::StrCat("--from ", from, ": no such pod in the lab (NS/POD, node:NAME or internet)"));
}

absl::StatusOr<std::string> AddressOf(const json& state, const std::string& to) {
  for (const auto& p : state["pods"]) {
    if (p["key"] == to) return p["ip"].get<std::string>();
  }
  if (policy::ParseIp(to).ok()) return to;
  return absl::NotFoundError(
      absl::StrCat("--to ", to, ": no such pod in the lab, and not an address"));
}

ProbeReport Report(const ProbeSpec& s, const ProbeResult& r) {
  return ProbeReport{
      s.from, s.to, s.port, s.udp ? "UDP" : "TCP", r.allowed(), OutcomeName(r.outcome), r.detail};
}

}  // namespace

absl::StatusOr<pid_t> LabStartControl(const std::string& state_dir) {
  auto state = ReadState(state_dir);
  if (!state.ok()) return state.status();
  if (!state->contains("control"))
    return absl::FailedPreconditionError("the lab runs without a control plane");
  auto pid = StartProcess(*state, (*state)["control"]["argv"], state_dir + "/logs/control.log");
  if (!pid.ok()) return pid.status();
  (*state)["control"]["pid"] = *pid;
  WriteState(state_dir, *state);
  return *pid;
}

absl::StatusOr<pid_t> LabStartAgent(const std::string& state_dir, const std::string& node) {
  auto state = ReadState(state_dir);
  if (!state.ok()) return state.status();
  for (auto& n : (*state)["nodes"]) {
    if (n["name"] != node) continue;
    if (!n.contains("agent_argv"))
      return absl::FailedPreconditionError("the lab was brought up without agents");
    auto pid = StartAgent(*state, n, state_dir);
    if (!pid.ok()) return pid.status();
    n["agent_pid"] = *pid;
    WriteState(state_dir, *state);
    return *pid;
  }
  return absl::NotFoundError(absl::StrCat("--node ", node, ": no such node in the lab"));
}

absl::StatusOr<ProbeReport> LabProbe(const std::string& state_dir, const ProbeSpec& spec) {
  auto state = ReadState(state_dir);
  if (!state.ok()) return state.status();
  auto place = PlaceOf(*state, spec.from);
  if (!place.ok()) return place.status();
  auto addr = AddressOf(*state, spec.to);
  if (!addr.ok()) return addr.status();
  return Report(
      spec, ProbeFrom(place->cgroup, place->netns, *addr, spec.port, spec.udp, spec.timeout_ms));
}

absl::StatusOr<std::vector<ProbeReport>> LabMatrix(const std::string& state_dir,
                                                   const std::vector<int>& ports,
                                                   const std::vector<std::string>& protocols,
                                                   int timeout_ms, int parallel) {
  auto state = ReadState(state_dir);
  if (!state.ok()) return state.status();
  std::vector<std::string> keys;
  for (const auto& p : (*state)["pods"]) keys.push_back(p["key"]);
  std::sort(keys.begin(), keys.end());
  std::vector<ProbeSpec> specs;
  for (int port : ports) {
    for (const auto& proto : protocols) {
      for (const auto& a : keys) {
        for (const auto& b : keys) {
          if (a != b) specs.push_back(ProbeSpec{a, b, port, proto == "UDP", timeout_ms});
        }
      }
    }
  }
  std::vector<ProbeReport> out(specs.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  absl::Status first_error;
  std::mutex mu;
  for (int w = 0; w < std::max(1, parallel); ++w) {
    workers.emplace_back([&] {
      for (size_t i = next++; i < specs.size(); i = next++) {
        auto r = LabProbe(state_dir, specs[i]);
        if (!r.ok()) {
          std::lock_guard<std::mutex> l(mu);
          if (first_error.ok()) first_error = r.status();
          continue;
        }
        out[i] = *r;
      }
    });
  }
  for (auto& t : workers) t.join();
  if (!first_error.ok()) return first_error;
  return out;
}

}  // namespace warden::lab
