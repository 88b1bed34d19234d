#include "tests/bench/control_inprocess.h"

#include <unistd.h>

#include <algorithm>

#include <google/protobuf/arena.h>

#include "absl/strings/str_format.h"

#include "agent/nodestate/wire.h"
#include "tests/bench/bench_failure.h"
#include "tests/lib/proc_status.h"
#include "tests/lib/stats.h"

namespace warden::bench {
namespace {

// "ipcache 812.3 kB (20402), identities ..." : the bytes of each field of an update (with the
// element count of repeated fields), largest first.
std::string UpdateParts(const google::protobuf::Message& m) {
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  std::vector<std::pair<size_t, std::string>> parts;
  for (const auto* fd : fields) {
    size_t bytes = 0;
    int count = fd->is_repeated() ? r->FieldSize(m, fd) : 1;
    if (fd->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      for (int i = 0; i < count; ++i) {
        const auto& e = fd->is_repeated() ? r->GetRepeatedMessage(m, fd, i) : r->GetMessage(m, fd);
        bytes += e.ByteSizeLong() + 3;  // + tag and length
      }
    } else {
      bytes = 8 * count;  // scalars: at most this
    }
    parts.emplace_back(bytes, fd->is_repeated() ? absl::StrCat(fd->name(), " (", count, ")")
                                                : std::string(fd->name()));
  }
  std::sort(parts.rbegin(), parts.rend());
  std::string out;
  for (const auto& [bytes, name] : parts) {
    if (bytes < 1024) continue;
    absl::StrAppend(&out, out.empty() ? "" : ", ", name, " ",
                    absl::StrFormat("%.1f", bytes / 1024.0), " kB");
  }
  return out;
}

// Six changes after the start, alternating the toggle's port; the first must change every node's
// state. Fills the per-change medians.
void MeasureToggles(InProcess& inproc, const ClusterSpec& c, const std::string& manifests,
                    const Breakdown& start, InProcessFigures& f) {
  std::vector<double> load, compile, states;
  for (int i = 0; i < 6; ++i) {
    WriteToggle(c, manifests + "/toggle.yaml", i % 2 ? 7000 : 7001);
    Breakdown b = inproc.Run(c);
    load.push_back(b.load_ms);
    compile.push_back(b.compile_ms);
    states.push_back(b.node_states_ms);
    if (i == 0) {
      int unchanged = 0;
      for (int n = 0; n < c.nodes; ++n) unchanged += start.states[n].SameContents(b.states[n]);
      if (unchanged)
        throw Failure(absl::StrCat("the toggle leaves ", unchanged, " nodes' states unchanged"));
    }
  }
  f.load_ms = testlib::NearestRank(load).p50;
  f.compile_ms = testlib::NearestRank(compile).p50;
  f.node_states_ms = testlib::NearestRank(states).p50;
}

void PrintCluster(const Breakdown& a, const ClusterSpec& c, const std::vector<int>& pods_per_node,
                  size_t yaml_bytes, const InProcessFigures& f) {
  std::printf(
      "cluster: %zu pods, %zu NetworkPolicies (%d namespaces), %d nodes (%d pods each), %.1f MB "
      "of YAML in %d files; %zu identities, %zu policy entries, %zu ipcache entries\n",
      a.pods, a.policies, c.namespaces, c.nodes, pods_per_node[0], yaml_bytes / 1e6,
      c.namespaces + 2, a.identities, a.policy_entries, a.ipcache);
  std::printf(
      "one node's state: %zu pods, %zu policy entries, %zu ipcache entries; full update %.1f "
      "kB, the toggle's delta %.1f kB\n",
      a.states[0].pods.size(), a.states[0].PolicyEntries(), a.states[0].ipcache->size(),
      f.full_update_bytes / 1024.0, f.delta_update_bytes / 1024.0);
  std::printf(
      "what the control plane does (in process): at start load %.0f ms, compile %.0f ms, %d "
      "node states %.0f ms; per toggle (median of %d) load %.1f ms, compile %.1f ms, node "
      "states %.1f ms\n",
      a.load_ms, a.compile_ms, c.nodes, a.node_states_ms, 6, f.load_ms, f.compile_ms,
      f.node_states_ms);
  std::printf(
      "nodes: full update largest %.1f kB, median %.1f kB (the node with the most policy "
      "entries and up to 200 spread evenly); most policy entries on a node %zu; this process RSS "
      "%.0f MB (peak %.0f MB)\n",
      f.full_update_max_bytes / 1024.0, f.full_update_median_bytes / 1024.0, f.node_entries_max,
      f.rss_mb, f.hwm_mb);
  std::printf("the largest full update (the node with the most entries), by part: %s\n",
              f.full_update_max_parts.c_str());
}

}  // namespace

InProcessFigures RunInProcess(const ClusterSpec& c, const std::string& manifests,
                              const std::vector<int>& pods_per_node, size_t yaml_bytes) {
  InProcessFigures f;
  InProcess inproc(manifests);
  Breakdown a = inproc.Run(c);
  if (a.errors) throw Failure(absl::StrCat(a.errors, " manifest errors"));
  f.policies = a.policies;
  f.start_load_ms = a.load_ms;
  f.start_compile_ms = a.compile_ms;
  f.start_node_states_ms = a.node_states_ms;
  MeasureToggles(inproc, c, manifests, a, f);
  // The sixth toggle wrote 7000 again, as the manifests started; the delta a round sends is
  // that of the first toggle (7000 -> 7001).
  WriteToggle(c, manifests + "/toggle.yaml", 7001);
  Breakdown b = inproc.Run(c);
  WriteToggle(c, manifests + "/toggle.yaml", 7000);
  f.full_update_bytes = nodestate::FullUpdate(a.states[0]).ByteSizeLong();
  {
    auto t = testlib::Clock::now();
    size_t total = 0;
    std::string bytes;
    for (const auto& st : a.states) {  // as the Sync server does (agent/control/sync_server.cc)
      google::protobuf::Arena arena;
      auto* r = google::protobuf::Arena::CreateMessage<v1::SyncResponse>(&arena);
      nodestate::FullResponseForWire(st, r);
      r->SerializeToString(&bytes);
      total += bytes.size();
    }
    f.start_full_updates_ms = testlib::MsSince(t);
    std::printf("every node's full update built and serialized: %.0f ms, %.1f MB in all\n",
                f.start_full_updates_ms, total / 1e6);
  }
  // Every node's policy entries; the full update (serializing it is most of a large run's
  // time) of the node with the most, and of up to 200 nodes spread evenly for the median.
  size_t most = 0;
  for (size_t n = 0; n < a.states.size(); ++n) {
    if (a.states[n].PolicyEntries() > f.node_entries_max) {
      f.node_entries_max = a.states[n].PolicyEntries();
      most = n;
    }
  }
  const v1::Update largest = nodestate::FullUpdate(a.states[most]);
  f.full_update_max_parts = UpdateParts(largest);
  std::vector<size_t> sizes = {largest.ByteSizeLong()};
  const size_t step = std::max<size_t>(1, a.states.size() / 200);
  for (size_t n = 0; n < a.states.size(); n += step)
    sizes.push_back(nodestate::FullUpdate(a.states[n]).ByteSizeLong());
  std::sort(sizes.begin(), sizes.end());
  f.full_update_max_bytes = sizes.back();
  f.full_update_median_bytes = sizes[sizes.size() / 2];
  f.rss_mb = testlib::StatusKb(getpid(), "VmRSS") / 1024.0;
  f.hwm_mb = testlib::StatusKb(getpid(), "VmHWM") / 1024.0;
  f.delta_update_bytes = nodestate::DeltaUpdate(a.states[0], b.states[0]).ByteSizeLong();
  PrintCluster(a, c, pods_per_node, yaml_bytes, f);
  return f;
}

}  // namespace warden::bench
