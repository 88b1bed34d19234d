#include "tests/bench/compile_flows.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/policy/lookup.h"
#include "agent/policy/model.h"
#include "tests/lib/timing.h"

namespace warden::bench {
namespace {

using policy::Pod;
using policy::Protocol;

struct Question {
  const Pod* src;
  const Pod* dst;  // null: an outside address
  policy::IpAddress dst_ip;
  Protocol proto;
  int port;
};

const std::vector<std::string> kOutside = {"8.8.8.8",        "203.0.7.9", "203.0.7.200",
                                           "198.51.100.5",   "10.1.2.3",  "192.168.0.5",
                                           "169.254.169.254"};
const int kPorts[] = {53, 80, 443, 5432, 6379, 8000, 8080, 8443, 9000, 9090, 31000, 4500};

// Draws pods at random, from all of them or from those with a label ("ns/app=web",
// "ns/tier=data", "app=api").
class PodPicker {
 public:
  PodPicker(const policy::ClusterState& st, std::mt19937& rng) : rng_(rng) {
    for (const auto& [_, p] : st.pods) pods_.push_back(&p);
    for (const Pod* p : pods_) {
      for (const char* key : {"app", "tier"}) {
        auto it = p->labels.find(key);
        if (it == p->labels.end()) continue;
        by_label_[absl::StrCat(p->ns, "/", key, "=", it->second)].push_back(p);
        by_label_[absl::StrCat(key, "=", it->second)].push_back(p);
      }
    }
  }
  const Pod* Any() { return pods_[rng_() % pods_.size()]; }
  const Pod* With(const std::string& label) {
    auto it = by_label_.find(label);
    if (it == by_label_.end() || it->second.empty()) return Any();
    return it->second[rng_() % it->second.size()];
  }

 private:
  std::mt19937& rng_;
  std::vector<const Pod*> pods_;
  std::map<std::string, std::vector<const Pod*>> by_label_;
};

// Turns a random pair into one of the flows the policies were written for, or leaves it.
void Shape(Question& q, const Pod* src, PodPicker& pick, std::mt19937& rng) {
  switch (rng() % 10) {
    case 0:  // DNS
      q.dst = pick.With("app=coredns");
      q.proto = rng() % 2 ? Protocol::kUDP : Protocol::kTCP;
      q.port = 53;
      break;
    case 1:  // a backend to the data tier of its namespace, on the data port
      q.src = pick.With(absl::StrCat(src->ns, "/tier=backend"));
      q.dst = pick.With(absl::StrCat(src->ns, "/tier=data"));
      q.proto = Protocol::kTCP;
      q.port = q.dst->ports.front().port;
      break;
    case 2:  // a backend to the API of another team, gRPC
      q.src = pick.With(absl::StrCat(src->ns, "/tier=backend"));
      q.dst = pick.With("app=api");
      q.proto = Protocol::kTCP;
      q.port = 9000;
      break;
    case 3:  // scraping
      q.src = pick.With("app=prometheus");
      q.proto = Protocol::kTCP;
      q.port = policy::Model::ResolveNamedPort(*q.dst, "metrics", Protocol::kTCP).value_or(9090);
      break;
    case 4:  // a frontend to the internet
      q.src = pick.With(absl::StrCat(src->ns, "/tier=frontend"));
      q.dst = nullptr;
      q.proto = Protocol::kTCP;
      q.port = rng() % 2 ? 443 : 80;
      break;
    case 5:  // within a namespace
      q.dst = pick.With(absl::StrCat(src->ns, "/tier=", src->labels.at("tier")));
      break;
    case 6:  // anything to an outside address
      q.dst = nullptr;
      break;
    default:
      break;  // random pair
  }
}

std::vector<Question> Questions(const policy::ClusterState& st, int count) {
  std::mt19937 rng(42);
  PodPicker pick(st, rng);
  std::vector<Question> qs;
  qs.reserve(count);
  for (int i = 0; i < count; ++i) {
    Question q{};
    q.proto = rng() % 4 == 0 ? Protocol::kUDP : Protocol::kTCP;
    const Pod* src = pick.Any();
    q.src = src;
    q.dst = pick.Any();
    q.port = kPorts[rng() % std::size(kPorts)];
    Shape(q, src, pick, rng);
    q.dst_ip = q.dst ? q.dst->ips.front() : *policy::ParseIp(kOutside[rng() % kOutside.size()]);
    qs.push_back(q);
  }
  return qs;
}

void AskModel(const policy::Model& model, const std::vector<Question>& qs,
              std::vector<char>& verdict) {
  for (size_t i = 0; i < qs.size(); ++i) {
    const Question& q = qs[i];
    policy::L4 l4{q.proto, q.port};
    bool ok =
        model.Evaluate(policy::Direction::kEgress, *q.src, policy::Endpoint{q.dst, q.dst_ip}, l4)
            .allowed;
    if (ok && q.dst)
      ok = model
               .Evaluate(policy::Direction::kIngress, *q.dst,
                         policy::Endpoint{q.src, q.src->ips.front()}, l4)
               .allowed;
    verdict[i] = ok;
  }
}

void AskTwin(const policy::DatapathTwin& twin, const policy::Snapshot& snap,
             const std::vector<Question>& qs, std::vector<char>& verdict) {
  for (size_t i = 0; i < qs.size(); ++i) {
    const Question& q = qs[i];
    uint16_t port = static_cast<uint16_t>(q.port);
    bool ok = twin.Lookup(snap.pods.at(q.src->Key()).identity, *twin.LookupIpcache(q.dst_ip),
                          WD_DIR_EGRESS, q.proto, port)
                  .allowed;
    if (ok && q.dst) {
      ok = twin.Lookup(snap.pods.at(q.dst->Key()).identity, *twin.LookupIpcache(q.src->ips.front()),
                       WD_DIR_INGRESS, q.proto, port)
               .allowed;
    }
    verdict[i] = ok;
  }
}

}  // namespace

FlowComparison CompareModelAndTwin(const policy::ClusterState& st, const policy::Snapshot& snap,
                                   int flows) {
  FlowComparison f;
  f.flows = flows;
  const std::vector<Question> qs = Questions(st, flows);
  // Building the model and the twin is not timed, only answering.
  policy::Model model(st);
  std::vector<char> model_verdict(qs.size()), twin_verdict(qs.size());
  auto tm = testlib::Clock::now();
  AskModel(model, qs, model_verdict);
  f.model_ms = testlib::MsSince(tm);
  policy::DatapathTwin twin(snap);
  auto tt = testlib::Clock::now();
  AskTwin(twin, snap, qs, twin_verdict);
  f.twin_ms = testlib::MsSince(tt);
  for (size_t i = 0; i < qs.size(); ++i) {
    f.disagreements += model_verdict[i] != twin_verdict[i];
    f.allowed += model_verdict[i];
  }
  return f;
}

}  // namespace warden::bench
