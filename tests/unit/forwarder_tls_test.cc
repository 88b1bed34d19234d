// The forwarder's relay on loopback, without BPF or root: a stand-in record source, a test TLS
// gateway (tests/lib/test_gateway.h), and a client in the pod's place. The flow header arrives,
// bytes come back both ways with half-closes (also a megabyte each way), the second connection
// resumes TLS, and a gateway whose certificate names another node, or a connection without a
// record, gets nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <gtest/gtest.h>

#include "agent/forwarder/forwarder.h"
#include "agent/lab/lab_pki.h"
#include "tests/lib/scratch_dir.h"
#include "tests/lib/test_gateway.h"

namespace warden::forwarder {
namespace {

constexpr uint64_t kCgroup = 5;

// Every connection has a record naming x/app, unless told otherwise.
class FakeRecords : public FlowRecords {
 public:
  explicit FakeRecords(std::atomic<bool>* have) : have_(have) {}
  absl::StatusOr<std::optional<Record>> Take(const policy::IpAddress&, uint16_t) override {
    if (!have_->load()) return std::nullopt;
    Record r;
    r.cgroup_id = kCgroup;
    r.cookie = 99;
    r.identity = 300;
    r.original_ip = *policy::ParseIp("203.0.113.10");
    r.original_port = 80;
    return r;
  }

 private:
  std::atomic<bool>* have_;
};

class ForwarderTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(lab::MakePki(dir_.path(), {{"node-a", ""}, {"gw-1", ""}, {"gw-2", ""}}).ok());
  }

  // A forwarder whose only gateway is `gw`, expected to be on node `gw_node`.
  void Start(const testlib::TestGateway& gw, const std::string& gw_node) {
    nodestate::NodeState s;
    nodestate::ScheduledPod pod;
    pod.identity = 300;
    pod.addresses = {*policy::ParseIp("127.0.0.1")};
    s.pods.Mut()["x/app"] = pod;
    s.identities.Mut()[300] = nodestate::IdentityRecord{"app", "x", "app-sa", {}, 0, {}};
    s.gateways = {{*policy::ParseIp("127.0.0.1"), gw_node, gw.port(), "warden-egress/gw"}};
    auto view = std::make_shared<NodeView>();
    view->Update(s, {{kCgroup, "x/app"}});
    ForwarderOptions o;
    o.listen = "127.0.0.1:0";
    o.tls = {lab::CertPath(dir_.path(), "node-a"), lab::KeyPath(dir_.path(), "node-a"),
             lab::CaPath(dir_.path())};
    o.node = "node-a";
    auto f = Forwarder::Create(o, view, std::make_unique<FakeRecords>(&have_record_));
    ASSERT_TRUE(f.ok()) << f.status();
    fwd_ = std::move(*f);
    fwd_->Start();
  }

  // Connects to the forwarder, sends `payload`, half-closes, reads to the end. Returns what
  // came back; *timed_out when the connection was left open (no end within 5 s).
  std::string Exchange(const std::string& payload, bool* timed_out = nullptr) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(fwd_->port());
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    timeval tv{5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    EXPECT_EQ(connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::thread writer([&] {
      size_t off = 0;
      while (off < payload.size()) {
        ssize_t n = send(c, payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      shutdown(c, SHUT_WR);
    });
    std::string got;
    char b[65536];
    ssize_t n;
    while ((n = read(c, b, sizeof(b))) > 0) got.append(b, static_cast<size_t>(n));
    if (timed_out) *timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    writer.join();
    close(c);
    return got;
  }

  testlib::ScratchDir dir_{"/tmp/warden-fwd-tls-" + std::to_string(getpid())};
  std::atomic<bool> have_record_{true};
  std::unique_ptr<Forwarder> fwd_;
};

TEST_F(ForwarderTlsTest, TheHeaderThenBytesBothWaysWithHalfCloses) {
  testlib::TestGateway gw("", "127.0.0.1", 0, "gw-1", dir_.path());
  Start(gw, "gw-1");
  EXPECT_EQ(Exchange("hello"), "hello");
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(Exchange(big), big);
  std::vector<testlib::Seen> seen = gw.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].flow.ns, "x");
  EXPECT_EQ(seen[0].flow.pod, "app");
  EXPECT_EQ(seen[0].flow.service_account, "app-sa");
  EXPECT_EQ(seen[0].flow.identity, 300u);
  EXPECT_EQ(seen[0].flow.original_ip.ToString(), "203.0.113.10");
  EXPECT_EQ(seen[0].flow.original_port, 80);
  EXPECT_EQ(seen[0].flow.flow_id, 99u);
  EXPECT_TRUE(seen[0].client_is_node_a);
  EXPECT_FALSE(seen[0].resumed);
  EXPECT_TRUE(seen[1].resumed) << "the second connection must resume the first one's session";
  EXPECT_EQ(fwd_->outcome(Forwarder::kForwarded), 2u);
  GatewayStats st = fwd_->gateway_stats("warden-egress/gw");
  EXPECT_EQ(st.connects, 2u);
  EXPECT_EQ(st.resumed, 1u);
  std::string metrics;
  fwd_->AppendMetrics("node=\"node-a\"", &metrics);
  EXPECT_NE(
      metrics.find("warden_forwarder_connections_total{node=\"node-a\",outcome=\"forwarded\"} 2"),
      std::string::npos)
      << metrics;
}

TEST_F(ForwarderTlsTest, AGatewayWhoseCertificateNamesAnotherNodeGetsNothing) {
  testlib::TestGateway gw("", "127.0.0.1", 0, "gw-2", dir_.path());  // presents gw-2's
  Start(gw, "gw-1");
  bool timed_out = true;
  EXPECT_EQ(Exchange("secret", &timed_out), "");
  EXPECT_FALSE(timed_out) << "the pod's connection must be cut at once, not left open";
  EXPECT_TRUE(gw.seen().empty());
  EXPECT_EQ(fwd_->outcome(Forwarder::kNoGateway), 1u);
  EXPECT_EQ(fwd_->gateway_stats("warden-egress/gw").connect_failures, 1u);
}

TEST_F(ForwarderTlsTest, AConnectionWithoutARecordGetsNothing) {
  testlib::TestGateway gw("", "127.0.0.1", 0, "gw-1", dir_.path());
  Start(gw, "gw-1");
  have_record_ = false;
  bool timed_out = true;
  EXPECT_EQ(Exchange("GET / HTTP/1.1\r\n\r\n", &timed_out), "");
  EXPECT_FALSE(timed_out);
  EXPECT_TRUE(gw.seen().empty());
  EXPECT_EQ(fwd_->outcome(Forwarder::kNoRecord), 1u);
}

}  // namespace
}  // namespace warden::forwarder
