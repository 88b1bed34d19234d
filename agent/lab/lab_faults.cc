#include "agent/lab/lab_faults.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab.h"
#include "agent/lab/lab_places.h"
#include "agent/lab/lab_state.h"
#include "agent/lab/probe.h"
#include "agent/lab/scenario_traffic.h"

namespace warden::lab {

namespace {

using Clock = std::chrono::steady_clock;

struct Attempt {
  size_t row;
  int64_t start_ms, end_ms;
  bool through;
};

// Every row tried again and again, each from its own thread, until Stop().
class Traffic {
 public:
  // rows[i] is sent from places[i] to targets[i].
  Traffic(const std::vector<TrafficRow>& rows, std::vector<Place> places,
          std::vector<Target> targets, const FaultsOptions& o)
      : rows_(rows),
        options_(o),
        start_(Clock::now()),
        places_(std::move(places)),
        targets_(std::move(targets)) {}
  ~Traffic() { Stop(); }

  void Start() {
    for (size_t i = 0; i < rows_.size(); ++i) threads_.emplace_back([this, i] { Run(i); });
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count();
  }
  std::vector<Attempt> Attempts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_;
  }

 private:
  void Run(size_t i) {
    const TrafficRow& row = rows_[i];
    const Place& place = places_[i];
    const std::string ip = targets_[i].ip;
    const int timeout = options_.timeout_ms;
    while (!stop_) {
      int64_t begin = Now();
      ProbeResult r = ProbeIn(place.cgroup, place.netns, [&] {
        switch (row.kind) {
          case TrafficRow::Kind::kHttp:
            return ProbeHttp(ip, row.port, row.host, row.path, timeout);
          case TrafficRow::Kind::kUdp:
            return ProbeUdp(ip, row.port, timeout);
          case TrafficRow::Kind::kTcp:
            break;
        }
        return ProbeTcp(ip, row.port, timeout);
      });
      {
        std::lock_guard<std::mutex> lock(mu_);
        attempts_.push_back({i, begin, Now(), GotThrough(row, r)});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.interval_ms));
    }
  }

  const std::vector<TrafficRow>& rows_;
  const FaultsOptions& options_;
  const Clock::time_point start_;
  std::vector<Place> places_;
  std::vector<Target> targets_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Attempt> attempts_;
};

// One fault: what to kill, and how to start it again.
struct Fault {
  std::string name;
  pid_t pid;
  std::function<absl::Status()> restart;
};

absl::StatusOr<std::vector<Fault>> FaultsOf(const LabState& lab, const std::string& state_dir) {
  std::vector<Fault> faults;
  if (!lab.control) return absl::FailedPreconditionError("the lab runs without a control plane");
  faults.push_back({"control plane", lab.control->pid,
                    [state_dir] { return LabStartControl(state_dir).status(); }});
  // The agent of the node where team-x/app runs: its forwarder carries rows 1, 2 and 6.
  const LabPod* app = lab.FindPod("team-x/app");
  const LabNode* node = app ? lab.FindNode(app->node) : nullptr;
  if (!node || node->agent_pid <= 0)
    return absl::FailedPreconditionError("no agent runs on team-x/app's node");
  std::string name = node->name;
  faults.push_back({"agent of " + name, node->agent_pid,
                    [state_dir, name] { return LabStartAgent(state_dir, name).status(); }});
  if (lab.gateways.empty()) return absl::FailedPreconditionError("the lab runs no gateway");
  std::string pod = lab.gateways.front().pod;
  faults.push_back({"gateway replica " + pod, lab.gateways.front().pid,
                    [state_dir, pod] { return LabStartGateway(state_dir, pod).status(); }});
  return faults;
}

// Whether every permitted row has an attempt that started at or after `since` and got through.
bool AllPermittedThrough(const std::vector<TrafficRow>& rows, const std::vector<Attempt>& a,
                         int64_t since) {
  std::vector<bool> seen(rows.size(), false);
  for (const Attempt& x : a)
    if (x.start_ms >= since && x.through) seen[x.row] = true;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].permitted && !seen[i]) return false;
  return true;
}

// Counts and the longest interruption of one fault's window [from, to].
void Tally(const std::vector<TrafficRow>& rows, const std::vector<Attempt>& attempts, int64_t from,
           int64_t to, FaultReport* f) {
  std::map<size_t, std::vector<Attempt>> by_row;
  for (const Attempt& a : attempts) {
    if (a.start_ms < from || a.start_ms > to) continue;
    by_row[a.row].push_back(a);
    const TrafficRow& row = rows[a.row];
    if (row.permitted) {
      (a.through ? f->permitted_ok : f->permitted_failed)++;
    } else {
      (a.through ? f->denied_passed : f->denied_refused)++;
    }
  }
  for (auto& [i, list] : by_row) {
    if (!rows[i].permitted) continue;
    std::sort(list.begin(), list.end(),
              [](const Attempt& a, const Attempt& b) { return a.start_ms < b.start_ms; });
    int64_t failing_since = -1;
    for (const Attempt& a : list) {
      if (!a.through && failing_since < 0) failing_since = a.start_ms;
      if (a.through && failing_since >= 0) {
        if (a.start_ms - failing_since > f->interrupted_ms) {
          f->interrupted_ms = a.start_ms - failing_since;
          f->interrupted_row = rows[i].label;
        }
        failing_since = -1;
      }
    }
    if (failing_since >= 0 && to - failing_since > f->interrupted_ms) {
      f->interrupted_ms = to - failing_since;
      f->interrupted_row = rows[i].label;
    }
  }
}

std::string Seconds(int64_t ms) { return absl::StrFormat("%.1f s", ms / 1000.0); }

}  // namespace

bool FaultsReport::ok() const {
  if (denied_passed != 0) return false;
  for (const FaultReport& f : faults)
    if (f.recovered_ms < 0 || f.denied_passed != 0) return false;
  for (const ReceiverCount& r : receivers)
    if (r.permitted ? r.lines == 0 : r.lines != 0) return false;
  return !faults.empty();
}

absl::StatusOr<FaultsReport> LabFaults(const FaultsOptions& o) {
  WD_ASSIGN_OR_RETURN(LabState lab, ReadLabState(o.state_dir));
  const std::vector<TrafficRow>& rows = ReferenceTraffic();
  std::vector<Place> places;
  std::vector<Target> targets;
  std::vector<Receiver> receivers;
  std::vector<std::uintmax_t> offsets;
  for (const TrafficRow& row : rows) {
    WD_ASSIGN_OR_RETURN(Place place, PlaceOf(lab, row.from, "row"));
    WD_ASSIGN_OR_RETURN(Target target, TargetOf(lab, row.to, row.family));
    places.push_back(std::move(place));
    targets.push_back(std::move(target));
    WD_ASSIGN_OR_RETURN(Receiver r, ReceiverOf(lab, o.state_dir, row));
    std::error_code ec;
    offsets.push_back(std::filesystem::file_size(r.log, ec));
    if (ec) offsets.back() = 0;
    receivers.push_back(std::move(r));
  }
  WD_ASSIGN_OR_RETURN(std::vector<Fault> faults, FaultsOf(lab, o.state_dir));

  auto say = [&](const std::string& s) {
    if (o.progress) *o.progress << s << std::flush;
  };
  FaultsReport report;
  Traffic traffic(rows, std::move(places), std::move(targets), o);
  say(absl::StrCat("  traffic: ", rows.size(), " rows, each tried every ", o.interval_ms,
                   " ms from its pod or node\n"));
  traffic.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
  absl::Status failed;
  for (size_t k = 0; k < faults.size() && failed.ok(); ++k) {
    const Fault& fault = faults[k];
    FaultReport f{.name = fault.name};
    say(absl::StrCat("  fault ", k + 1, "/", faults.size(), ": SIGKILL to the ", fault.name,
                     " (pid ", fault.pid, ")"));
    int64_t killed = traffic.Now();
    if (kill(fault.pid, SIGKILL) != 0) {
      failed = absl::InternalError(absl::StrCat("kill ", fault.pid, ": ", std::strerror(errno)));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(o.down_ms));
    if (absl::Status st = fault.restart(); !st.ok()) {
      failed =
          absl::InternalError(absl::StrCat("starting the ", fault.name, " again: ", st.message()));
      break;
    }
    int64_t restarted = traffic.Now();
    f.restarted_ms = restarted - killed;
    say(absl::StrCat(", started again after ", Seconds(f.restarted_ms)));
    while (traffic.Now() - restarted < o.recover_ms) {
      if (AllPermittedThrough(rows, traffic.Attempts(), restarted)) {
        f.recovered_ms = traffic.Now() - killed;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    int64_t until = f.recovered_ms >= 0 ? killed + f.recovered_ms : traffic.Now();
    Tally(rows, traffic.Attempts(), killed, until, &f);
    say(f.recovered_ms >= 0
            ? absl::StrCat(", permitted traffic all back after ", Seconds(f.recovered_ms), "\n")
            : absl::StrCat(", permitted traffic NOT back after ", Seconds(o.recover_ms), "\n"));
    report.faults.push_back(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
  }
  traffic.Stop();
  WD_RETURN_IF_ERROR(failed);

  for (const Attempt& a : traffic.Attempts()) {
    ++report.attempts;
    if (rows[a.row].permitted) continue;
    ++report.denied_attempts;
    if (a.through) {
      ++report.denied_passed;
      report.denied_passed_rows.push_back(rows[a.row].label);
    }
  }
  // The receivers' own logs, from where they stood when the run began (nginx writes its access
  // log line as a request ends; the echo servers theirs as they accept).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (size_t i = 0; i < rows.size(); ++i) {
    ReceiverCount c{rows[i].label, rows[i].permitted, receivers[i].log, 0};
    std::ifstream in(receivers[i].log);
    in.seekg(static_cast<std::streamoff>(offsets[i]));
    std::string line;
    while (std::getline(in, line)) {
      for (const std::string& want : receivers[i].lines) {
        if (line.find(want) != std::string::npos) {
          ++c.lines;
          break;
        }
      }
    }
    report.receivers.push_back(c);
  }
  return report;
}

std::string FaultsText(const FaultsReport& r) {
  std::string s = absl::StrFormat("%-40s %-10s %-16s %-22s %-18s %s\n", "fault (SIGKILL, restart)",
                                  "restarted", "all back after", "longest interruption",
                                  "permitted ok/fail", "denied refused/PASSED");
  for (const FaultReport& f : r.faults) {
    std::string interrupted =
        f.interrupted_row.empty()
            ? "none"
            : absl::StrCat(Seconds(f.interrupted_ms), " (row ", f.interrupted_row, ")");
    absl::StrAppend(
        &s,
        absl::StrFormat("%-40s %-10s %-16s %-22s %-18s %d/%d\n", f.name, Seconds(f.restarted_ms),
                        f.recovered_ms < 0 ? "NEVER" : Seconds(f.recovered_ms), interrupted,
                        absl::StrCat(f.permitted_ok, "/", f.permitted_failed), f.denied_refused,
                        f.denied_passed));
  }
  absl::StrAppend(&s, "\nsenders' side: ", r.attempts, " attempts, ", r.denied_attempts,
                  " of denied rows, ", r.denied_passed, " of them got through\n");
  absl::StrAppend(&s, "receivers' side (lines their own logs wrote during the run):\n");
  for (const ReceiverCount& c : r.receivers) {
    bool good = c.permitted ? c.lines > 0 : c.lines == 0;
    absl::StrAppend(
        &s, absl::StrFormat("  row %-7s %-9s %6d  %-4s %s\n", c.row,
                            c.permitted ? "permitted" : "denied", c.lines, good ? "ok" : "FAIL",
                            std::filesystem::path(c.log).filename().string()));
  }
  absl::StrAppend(
      &s, r.ok() ? "faults: PASS (nothing denied got through; permitted traffic came back)\n"
                 : "faults: FAIL\n");
  return s;
}

nlohmann::json FaultsJson(const FaultsReport& r) {
  nlohmann::json j;
  j["ok"] = r.ok();
  j["attempts"] = r.attempts;
  j["denied_attempts"] = r.denied_attempts;
  j["denied_passed"] = r.denied_passed;
  j["denied_passed_rows"] = r.denied_passed_rows;
  for (const FaultReport& f : r.faults) {
    j["faults"].push_back({{"name", f.name},
                           {"restarted_ms", f.restarted_ms},
                           {"recovered_ms", f.recovered_ms},
                           {"interrupted_ms", f.interrupted_ms},
                           {"interrupted_row", f.interrupted_row},
                           {"permitted_ok", f.permitted_ok},
                           {"permitted_failed", f.permitted_failed},
                           {"denied_refused", f.denied_refused},
                           {"denied_passed", f.denied_passed}});
  }
  for (const ReceiverCount& c : r.receivers) {
    j["receivers"].push_back(
        {{"row", c.row}, {"permitted", c.permitted}, {"log", c.log}, {"lines", c.lines}});
  }
  return j;
}

}  // namespace warden::lab
