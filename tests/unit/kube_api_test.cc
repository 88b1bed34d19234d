// The Kubernetes API source against a stand-in API server speaking the list/watch protocol
// (tests/lib/fake_api_server.h): events applied, a watch resumed from the last version after a
// disconnect, a stall or a server that ends the stream; 410 Gone and untrusted lines listed
// again with the objects kept meanwhile; bookmarks; the watch-list where it is offered; kinds
// not served; invalid objects keeping their last valid version; and the same objects giving
// the same node states as the manifests source.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "agent/kube/api_source.h"
#include "agent/nodestate/pipeline.h"
#include "agent/nodestate/wire.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/lib/fake_api_server.h"
#include "tests/lib/scratch_dir.h"

namespace warden::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testlib::ApiExchange;
using testlib::ApiRequest;
using testlib::Bookmark;
using testlib::Event;
using testlib::ListBody;
using testlib::StatusBody;

std::string PodJson(const std::string& name, const std::string& ip, const std::string& rv,
                    const std::string& app = "web", const std::string& phase = "Running") {
  return absl::StrCat(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")", name,
      R"(","namespace":"team-x","resourceVersion":")", rv, R"(","labels":{"app":")", app,
      R"("},"managedFields":[{"manager":"kubelet"}]},"spec":{"nodeName":"n1",)",
      R"("containers":[{"name":"c","image":"nginx","env":[{"name":"A","value":"b"}]}]},)",
      R"("status":{"phase":")", phase, R"(","podIP":")", ip, R"("}})");
}

// Without kind and apiVersion, as items of a list come.
std::string PodItem(const std::string& name, const std::string& ip, const std::string& rv) {
  auto j = nlohmann::json::parse(PodJson(name, ip, rv));
  j.erase("kind");
  j.erase("apiVersion");
  return j.dump();
}

bool IsIstio(const std::string& path) { return path.find("istio.io") != std::string::npos; }

class KubeApiTest : public ::testing::Test {
 protected:
  // What the server does for Pods (list and watch); every other kind has none and a quiet
  // watch, and Istio's kinds are not served.
  std::function<void(const ApiRequest&, ApiExchange&)> pods;
  bool offer_watch_list = false;

  void SetUp() override {
    scratch_ = testlib::ScratchDir(absl::StrCat("/tmp/warden-kube-test-", getpid()));
    dir_ = scratch_.path();
  }
  void TearDown() override {
    if (source_) source_->Stop();
    if (server_) server_->Stop();
  }

  void Start(bool watch_list = false) {
    server_ = std::make_unique<testlib::FakeApiServer>(
        dir_ + "/pki", [this](const ApiRequest& r, ApiExchange& x) { Route(r, x); });
    ApiServerConfig cfg;
    cfg.host = "127.0.0.1";
    cfg.port = std::to_string(server_->port());
    cfg.ca_pem = server_->ca_pem();
    cfg.token_file = dir_ + "/token";
    std::ofstream(cfg.token_file) << "token-1\n";
    cfg.origin = "test";
    ApiSourceOptions o;
    o.timeouts.connect = std::chrono::milliseconds(2000);
    o.timeouts.request = std::chrono::milliseconds(2000);
    o.timeouts.idle = std::chrono::milliseconds(idle_ms);
    o.reflector.watch_list = watch_list;
    o.reflector.backoff_min = std::chrono::milliseconds(20);
    o.reflector.backoff_max = std::chrono::milliseconds(100);
    o.reflector.absent_retry = std::chrono::milliseconds(200);
    auto s = ApiSource::Start(cfg, o);
    ASSERT_TRUE(s.ok()) << s.status();
    source_ = std::move(*s);
  }

  void Route(const ApiRequest& r, ApiExchange& x) {
    if (r.Path() == "/api/v1/pods") return pods(r, x);
    if (IsIstio(r.Path())) return x.Respond(404, StatusBody(404, "NotFound", "no such resource"));
    if (r.Param("watch") == "1") {
      if (r.Param("sendInitialEvents") == "true") {
        if (!offer_watch_list)
          return x.Respond(422, StatusBody(422, "Invalid", "resourceVersionMatch: Forbidden"));
        x.StartStream();
        x.Line(Bookmark("1", true));
      } else {
        x.StartStream();
      }
      while (!x.Stopping()) x.Pause(50);
      return;
    }
    x.Respond(200, ListBody("Thing", "v1", {}, "1"));
  }

  // Loads until `pred` holds (5 s at most); the last load.
  policy::LoadResult WaitFor(const std::function<bool(const policy::LoadResult&)>& pred) {
    policy::LoadResult r;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (source_->Unsynced().empty()) {
        r = source_->Load();
        if (pred(r)) return r;
      }
      source_->WaitChange(std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the condition never held; unsynced: " << source_->Unsynced().size();
    return r;
  }

  int Count(const std::function<bool(const ApiRequest&)>& pred) {
    int n = 0;
    for (const auto& r : server_->requests()) n += r.Path() == "/api/v1/pods" && pred(r);
    return n;
  }
  static bool IsList(const ApiRequest& r) { return r.Param("watch").empty(); }
  static bool IsWatch(const ApiRequest& r) { return r.Param("watch") == "1"; }

  static std::string Ip(const policy::LoadResult& r, const std::string& key) {
    const policy::Pod* p = r.state.FindPod(key);
    return p && !p->ips.empty() ? p->ips[0].ToString() : "";
  }

  testlib::ScratchDir scratch_;
  std::string dir_;
  int idle_ms = 2000;
  std::unique_ptr<testlib::FakeApiServer> server_;
  std::unique_ptr<ApiSource> source_;
};

TEST_F(KubeApiTest, ListThenWatchAppliesEveryEvent) {
  pods = [](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r)) {
      return x.Respond(
          200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5"), PodItem("b", "10.0.0.2", "6")},
                        "10"));
    }
    x.StartStream();
    if (r.Param("resourceVersion") == "10") {
      x.Line(Event("ADDED", PodJson("c", "10.0.0.3", "11")));
      x.Line(Event("MODIFIED", PodJson("a", "10.0.0.1", "12", "api")));
      x.Line(Event("DELETED", PodJson("b", "10.0.0.2", "13")));
    }
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  auto r = WaitFor([](const policy::LoadResult& r) {
    return r.state.pods.size() == 2 && r.state.FindPod("team-x/c") &&
           r.state.FindPod("team-x/a")->labels.at("app") == "api";
  });
  EXPECT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  EXPECT_EQ(Ip(r, "team-x/c"), "10.0.0.3");
  EXPECT_EQ(r.state.FindPod("team-x/a")->node_name, "n1");
  EXPECT_EQ(Count(IsList), 1);
  // Watches carry the list's version and ask for bookmarks; requests carry the token.
  auto reqs = server_->requests();
  bool watched = false;
  for (const auto& q : reqs) {
    EXPECT_EQ(q.authorization, "Bearer token-1") << q.target;
    if (q.Path() == "/api/v1/pods" && IsWatch(q)) {
      watched = true;
      EXPECT_EQ(q.Param("resourceVersion"), "10");
      EXPECT_EQ(q.Param("allowWatchBookmarks"), "true");
      EXPECT_FALSE(q.Param("timeoutSeconds").empty());
    }
  }
  EXPECT_TRUE(watched);
}

TEST_F(KubeApiTest, ADisconnectMidStreamResumesFromTheLastVersionWithoutAList) {
  std::atomic<int> watches{0};
  pods = [&](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r))
      return x.Respond(200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5")}, "10"));
    x.StartStream();
    if (watches++ == 0) {
      x.Line(Event("ADDED", PodJson("b", "10.0.0.2", "11")));
      x.Pause(100);
      return x.Break();  // no end of the chunked body: a broken connection
    }
    if (r.Param("resourceVersion") == "11") x.Line(Event("ADDED", PodJson("c", "10.0.0.3", "12")));
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  auto r = WaitFor([](const policy::LoadResult& r) { return r.state.pods.size() == 3; });
  EXPECT_EQ(Count(IsList), 1);
  EXPECT_GE(Count([](const ApiRequest& q) { return q.Param("resourceVersion") == "11"; }), 1);
}

TEST_F(KubeApiTest, GoneListsAgainAndTheNewListReplacesTheObjects) {
  std::atomic<int> lists{0};
  pods = [&](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r)) {
      if (lists++ == 0)
        return x.Respond(200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5")}, "10"));
      return x.Respond(200, ListBody("Pod", "v1", {PodItem("b", "10.0.0.2", "30")}, "30"));
    }
    if (r.Param("resourceVersion") == "10") {
      // As a server whose history no longer reaches the version: an ERROR event.
      x.StartStream();
      x.Line(Event("ERROR", StatusBody(410, "Expired", "too old resource version: 10 (25)")));
      return x.End();
    }
    x.StartStream();
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  auto watching_30 = [this] {
    return Count([](const ApiRequest& q) { return q.Param("resourceVersion") == "30"; }) > 0;
  };
  auto r = WaitFor([&](const policy::LoadResult& r) {
    return r.state.pods.size() == 1 && r.state.FindPod("team-x/b") && watching_30();
  });
  EXPECT_EQ(lists.load(), 2);
  EXPECT_TRUE(watching_30());
}

TEST_F(KubeApiTest, AGoneAnswerToTheWatchListsAgain) {
  std::atomic<int> lists{0};
  pods = [&](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r)) {
      ++lists;
      return x.Respond(
          200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5")}, lists == 1 ? "10" : "40"));
    }
    if (r.Param("resourceVersion") == "10")
      return x.Respond(410, StatusBody(410, "Gone", "too old resource version"));
    x.StartStream();
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  auto watching_40 = [this] {
    return Count([](const ApiRequest& q) { return q.Param("resourceVersion") == "40"; }) > 0;
  };
  WaitFor([&](const policy::LoadResult&) { return lists >= 2 && watching_40(); });
  EXPECT_TRUE(watching_40());
}

TEST_F(KubeApiTest, ABookmarkMovesTheVersionTheNextWatchStartsFrom) {
  pods = [](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r)) return x.Respond(200, ListBody("Pod", "v1", {}, "10"));
    x.StartStream();
    if (r.Param("resourceVersion") == "10") {
      x.Line(Bookmark("77"));
      x.Pause(100);
      return x.End();  // the server's timeoutSeconds: a clean end
    }
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  WaitFor([&](const policy::LoadResult&) {
    return Count([](const ApiRequest& q) { return q.Param("resourceVersion") == "77"; }) > 0;
  });
  EXPECT_EQ(Count(IsList), 1);
}

TEST_F(KubeApiTest, AnUnreadableEventListsAgainAndKeepsTheObjectsMeanwhile) {
  std::atomic<int> lists{0};
  std::atomic<bool> release{false};
  pods = [&](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r)) {
      if (lists++ == 0)
        return x.Respond(200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5")}, "10"));
      // The second list waits until the test has seen that the objects were kept.
      while (!release && !x.Stopping()) x.Pause(20);
      return x.Respond(200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.9", "50")}, "50"));
    }
    x.StartStream();
    if (r.Param("resourceVersion") == "10") {
      x.Line(R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":)");  // cut short
      x.Line(Event("DELETED", PodJson("a", "10.0.0.1", "11")));            // must not be applied
      return x.End();
    }
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  WaitFor([&](const policy::LoadResult&) { return lists >= 2; });
  auto kept = source_->Load();
  EXPECT_EQ(Ip(kept, "team-x/a"), "10.0.0.1");
  release = true;
  auto r = WaitFor([](const policy::LoadResult& r) { return Ip(r, "team-x/a") == "10.0.0.9"; });
  EXPECT_EQ(r.state.pods.size(), 1u);
}

TEST_F(KubeApiTest, AStalledStreamIsCutAndTheWatchResumes) {
  idle_ms = 300;
  std::atomic<int> watches{0};
  pods = [&](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r)) return x.Respond(200, ListBody("Pod", "v1", {}, "10"));
    x.StartStream();
    if (watches++ == 0) {
      x.Line(Event("ADDED", PodJson("a", "10.0.0.1", "11")));
      while (!x.Stopping()) x.Pause(50);  // then nothing, for good
      return;
    }
    x.Line(Event("ADDED", PodJson("b", "10.0.0.2", "12")));
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  auto r = WaitFor([](const policy::LoadResult& r) { return r.state.pods.size() == 2; });
  EXPECT_EQ(Count(IsList), 1);
  EXPECT_GE(Count([](const ApiRequest& q) { return q.Param("resourceVersion") == "11"; }), 1);
}

TEST_F(KubeApiTest, TheWatchListIsUsedWhereTheServerOffersIt) {
  offer_watch_list = true;
  pods = [](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r)) return x.Respond(500, StatusBody(500, "InternalError", "no lists here"));
    x.StartStream();
    if (r.Param("sendInitialEvents") == "true") {
      EXPECT_EQ(r.Param("resourceVersionMatch"), "NotOlderThan");
      x.Line(Event("ADDED", PodJson("a", "10.0.0.1", "5")));
      x.Line(Event("ADDED", PodJson("b", "10.0.0.2", "6")));
      x.Line(Bookmark("20", true));
      x.Line(Event("DELETED", PodJson("b", "10.0.0.2", "21")));
    }
    while (!x.Stopping()) x.Pause(50);
  };
  Start(/*watch_list=*/true);
  auto r = WaitFor([](const policy::LoadResult& r) { return r.state.pods.size() == 1; });
  EXPECT_TRUE(r.state.FindPod("team-x/a"));
  EXPECT_EQ(Count(IsList), 0);
}

TEST_F(KubeApiTest, AServerWithoutTheWatchListIsListed) {
  pods = [](const ApiRequest& r, ApiExchange& x) {
    if (r.Param("sendInitialEvents") == "true")
      return x.Respond(422, StatusBody(422, "Invalid", "resourceVersionMatch: Forbidden"));
    if (IsList(r))
      return x.Respond(200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5")}, "10"));
    x.StartStream();
    while (!x.Stopping()) x.Pause(50);
  };
  Start(/*watch_list=*/true);
  WaitFor([](const policy::LoadResult& r) { return r.state.pods.size() == 1; });
  EXPECT_EQ(Count(IsList), 1);
}

TEST_F(KubeApiTest, NothingIsSyncedWhileAKindCannotBeListed) {
  std::atomic<bool> allow{false};
  pods = [&](const ApiRequest& r, ApiExchange& x) {
    if (!allow) return x.Respond(403, StatusBody(403, "Forbidden", "pods is forbidden"));
    if (IsList(r)) return x.Respond(200, ListBody("Pod", "v1", {}, "10"));
    x.StartStream();
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_THAT(source_->Unsynced(), ::testing::ElementsAre("Pod"));
  EXPECT_THAT(source_->RenderMetrics(), HasSubstr("warden_kube_synced{kind=\"Pod\"} 0"));
  allow = true;
  WaitFor([](const policy::LoadResult&) { return true; });
  // Istio's kinds are not served here: listed as none.
  EXPECT_THAT(source_->RenderMetrics(), HasSubstr("warden_kube_synced{kind=\"ServiceEntry\"} 1"));
}

TEST_F(KubeApiTest, AnInvalidObjectKeepsItsLastValidVersionAndNamesItsPathAndField) {
  pods = [](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r))
      return x.Respond(200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5")}, "10"));
    x.StartStream();
    if (r.Param("resourceVersion") == "10") {
      x.Pause(200);
      x.Line(Event("MODIFIED", PodJson("a", "10.0.0.999", "11")));
    }
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  auto r = WaitFor([](const policy::LoadResult& r) { return !r.errors.empty(); });
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].file, "/api/v1/namespaces/team-x/pods/a");
  EXPECT_EQ(r.errors[0].object, "Pod team-x/a");
  EXPECT_EQ(r.errors[0].field, "status.podIP");
  EXPECT_EQ(Ip(r, "team-x/a"), "10.0.0.1");
}

TEST_F(KubeApiTest, AnEndedPodIsGone) {
  pods = [](const ApiRequest& r, ApiExchange& x) {
    if (IsList(r))
      return x.Respond(200, ListBody("Pod", "v1", {PodItem("a", "10.0.0.1", "5")}, "10"));
    x.StartStream();
    if (r.Param("resourceVersion") == "10")
      x.Line(Event("MODIFIED", PodJson("a", "10.0.0.1", "11", "web", "Succeeded")));
    while (!x.Stopping()) x.Pause(50);
  };
  Start();
  WaitFor([](const policy::LoadResult& r) { return r.state.pods.empty(); });
}

TEST_F(KubeApiTest, AServerWhoseCertificateIsNotFromTheCaIsNeverRead) {
  pods = [](const ApiRequest&, ApiExchange& x) { x.Respond(200, ListBody("Pod", "v1", {}, "10")); };
  server_ = std::make_unique<testlib::FakeApiServer>(
      dir_ + "/pki", [this](const ApiRequest& r, ApiExchange& x) { Route(r, x); });
  testlib::FakeApiServer other(dir_ + "/other-pki", [](const ApiRequest&, ApiExchange&) {});
  ApiServerConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = std::to_string(server_->port());
  cfg.ca_pem = other.ca_pem();  // a different CA
  cfg.origin = "test";
  auto client = ApiClient::Create(cfg);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Get("/api/v1/pods");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("TLS handshake"));
  EXPECT_TRUE(server_->requests().empty());
  // And a certificate for another name (its IP SAN is 127.0.0.1, not localhost's ::1 name).
  cfg.ca_pem = server_->ca_pem();
  cfg.tls_server_name = "kubernetes.default.svc";
  auto named = ApiClient::Create(cfg);
  ASSERT_TRUE(named.ok());
  EXPECT_FALSE((*named)->Get("/api/v1/pods").ok());
}

// YAML (as a manifests file holds it) to JSON (as the API server sends it), types kept.
nlohmann::json ToJson(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.Scalar()] = ToJson(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : n) a.push_back(ToJson(e));
    return a;
  }
  if (n.IsNull()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() == "?") {
    if (s == "true" || s == "false") return s == "true";
    int64_t i;
    if (YAML::convert<int64_t>::decode(n, i) && std::to_string(i) == s) return i;
  }
  return s;
}

TEST_F(KubeApiTest, TheSameObjectsGiveTheSameNodeStatesAsTheManifests) {
  const std::string manifests = std::string(WARDEN_SOURCE_DIR) + "/deploy/examples/reference";
  std::map<std::string, std::vector<std::string>> by_plural;  // items per collection path
  for (const auto& e : fs::recursive_directory_iterator(manifests)) {
    if (!e.is_regular_file()) continue;
    for (const YAML::Node& file_doc : YAML::LoadAllFromFile(e.path().string())) {
      if (!file_doc.IsMap()) continue;
      // A v1 List holds its objects as items.
      std::vector<YAML::Node> docs;
      if (file_doc["kind"].Scalar() == "List") {
        for (const auto& item : file_doc["items"]) docs.push_back(item);
      } else {
        docs.push_back(file_doc);
      }
      for (const YAML::Node& doc : docs) {
        std::string kind = doc["kind"].Scalar();
        for (const Resource& r : WatchedResources()) {
          if (r.kind != kind) continue;
          by_plural[CollectionPath(r, r.group_versions.front())].push_back(ToJson(doc).dump());
        }
      }
    }
  }
  ASSERT_GE(by_plural.size(), 6u);
  server_ = std::make_unique<testlib::FakeApiServer>(dir_ + "/pki", [&](const ApiRequest& r,
                                                                        ApiExchange& x) {
    if (r.Param("watch") == "1") {
      x.StartStream();
      while (!x.Stopping()) x.Pause(50);
      return;
    }
    auto it = by_plural.find(r.Path());
    x.Respond(200, ListBody("Thing", "v1",
                            it == by_plural.end() ? std::vector<std::string>{} : it->second, "7"));
  });
  ApiServerConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = std::to_string(server_->port());
  cfg.ca_pem = server_->ca_pem();
  cfg.origin = "test";
  ApiSourceOptions o;
  o.reflector.watch_list = false;
  auto api = ApiSource::Start(cfg, o);
  ASSERT_TRUE(api.ok());
  source_ = std::move(*api);
  WaitFor([](const policy::LoadResult&) { return true; });

  nodestate::PipelineOptions from_dir, from_api;
  from_dir.manifests = manifests;
  from_api.source = std::shared_ptr<policy::ObjectSource>(source_.get(), [](auto*) {});
  nodestate::DesiredStatePipeline a(from_dir), b(from_api);
  auto ra = a.Run(), rb = b.Run();
  ASSERT_TRUE(ra.cluster && rb.cluster) << ra.status << rb.status;
  EXPECT_TRUE(rb.errors.empty()) << rb.errors[0].ToString();
  ASSERT_EQ(ra.cluster->NodeNames(), rb.cluster->NodeNames());
  ASSERT_FALSE(ra.cluster->NodeNames().empty());
  for (const auto& node : ra.cluster->NodeNames()) {
    // Compared as messages: the wire order of a protobuf map's entries is not defined.
    warden::v1::Update x = nodestate::FullUpdate(ra.cluster->NodeStateOf(node));
    warden::v1::Update y = nodestate::FullUpdate(rb.cluster->NodeStateOf(node));
    std::string diff;
    google::protobuf::util::MessageDifferencer d;
    d.ReportDifferencesToString(&diff);
    EXPECT_TRUE(d.Compare(x, y)) << node << ": " << diff;
  }
}

}  // namespace
}  // namespace warden::kube
