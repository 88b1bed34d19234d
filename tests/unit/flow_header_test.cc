// Tests of the flow header (agent/nodestate/flow_header.h): what the forwarder writes the gateway
// reads back from any split of the bytes, takes no byte past the header, and refuses what is
// malformed or oversized (naming the field), never crashing on random bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "agent/nodestate/flow_header.h"
#include "warden/v1/flow.pb.h"

namespace warden::nodestate {
namespace {

using ::testing::HasSubstr;

Flow Sample() {
  Flow f;
  f.ns = "team-x";
  f.pod = "app-7d9f";
  f.service_account = "app-x";
  f.identity = 6804128;
  f.original_ip = *policy::ParseIp("203.0.113.10");
  f.original_port = 443;
  f.flow_id = 99;
  return f;
}

TEST(FlowHeaderTest, ReadBackFromAnySplit) {
  for (const char* ip : {"203.0.113.10", "2001:db8::10"}) {
    Flow f = Sample();
    f.original_ip = *policy::ParseIp(ip);
    const std::string wire = EncodeFlowHeader(f) + "GET / HTTP/1.1\r\n";
    const size_t header = EncodeFlowHeader(f).size();
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
      auto got = DecodeFlowHeader(absl::string_view(wire).substr(0, cut));
      ASSERT_TRUE(got.ok()) << cut << ": " << got.status();
      if (cut < header) {
        EXPECT_FALSE(got->has_value()) << cut;  // more bytes needed
      } else {
        ASSERT_TRUE(got->has_value()) << cut;
        EXPECT_TRUE((*got)->flow == f);
        EXPECT_EQ((*got)->consumed, header);  // the flow's own bytes are left alone
      }
    }
  }
}

TEST(FlowHeaderTest, RefusesWhatIsNotAHeader) {
  auto error = [](const std::string& bytes) {
    auto got = DecodeFlowHeader(bytes);
    return got.ok() ? std::string() : std::string(got.status().message());
  };
  auto with = [](auto edit) {
    v1::FlowHeader h;
    h.set_namespace_("team-x");
    h.set_pod("app");
    h.set_service_account("default");
    h.set_original_ip(std::string("\xcb\x00\x71\x0a", 4));
    h.set_original_port(443);
    edit(&h);
    const std::string body = h.SerializeAsString();
    return std::string(1, static_cast<char>(body.size())) + body;
  };
  EXPECT_EQ(error(with([](v1::FlowHeader*) {})), "");
  EXPECT_THAT(error(with([](v1::FlowHeader* h) { h->clear_namespace_(); })),
              HasSubstr("namespace"));
  EXPECT_THAT(error(with([](v1::FlowHeader* h) { h->set_pod("Bad_Pod"); })), HasSubstr("pod"));
  EXPECT_THAT(error(with([](v1::FlowHeader* h) { h->set_service_account(""); })),
              HasSubstr("service_account"));
  EXPECT_THAT(error(with([](v1::FlowHeader* h) { h->set_original_ip("abc"); })),
              HasSubstr("original_ip"));
  EXPECT_THAT(error(with([](v1::FlowHeader* h) { h->set_original_port(70000); })),
              HasSubstr("original_port"));
  EXPECT_THAT(error(with([](v1::FlowHeader* h) { h->clear_original_port(); })),
              HasSubstr("original_port"));
  // A length past the limit is refused at once, without waiting for the bytes.
  EXPECT_THAT(error("\xff\xff\x01"), HasSubstr("above"));
  EXPECT_THAT(error("\xff\xff\xff\xff\xff\xff"), HasSubstr("length"));
  EXPECT_THAT(error(std::string("\x03\xff\xff\xff")), HasSubstr("not a FlowHeader"));
}

TEST(FlowHeaderTest, RandomBytesAreErrorsOrWaitsNeverCrashes) {
  std::mt19937 rng(9);
  const std::string good = EncodeFlowHeader(Sample());
  int errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string b = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) b[rng() % b.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) b.resize(rng() % (b.size() + 1));
    auto got = DecodeFlowHeader(b);
    if (!got.ok()) {
      ++errors;
      continue;
    }
    if (got->has_value()) {
      EXPECT_LE((*got)->consumed, b.size());
    }
  }
  EXPECT_GT(errors, 1000);
}

}  // namespace
}  // namespace warden::nodestate
