// The gateway's access-log line: valid JSON whatever bytes the network put in its fields (quotes,
// control characters, invalid UTF-8), each value read back as it was (invalid sequences as
// U+FFFD), numbers typed and unset values null, as Istio's JSON log has them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/gateway/access_log.h"

namespace warden::gateway {
namespace {

TEST(AccessLineTest, AnyBytesMakeValidJsonReadBackAsSent) {
  AccessEntry e;
  e.start_time = absl::FromUnixMillis(1765000000123);
  e.method = "GET";
  e.path = "/a\"b\\c\n\r\t\x01\x7f";
  e.user_agent = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // é € 😀
  e.authority = "bad\xff\xc3(\xed\xa0\x80x";  // an invalid byte, a cut sequence, a surrogate
  e.response_code = 403;
  e.bytes_received = 12;
  e.upstream_service_time_ms = std::nullopt;
  nlohmann::json j = nlohmann::json::parse(AccessLine(e));
  EXPECT_EQ(j["start_time"], "2025-12-06T05:46:40.123Z");
  EXPECT_EQ(j["path"], e.path);
  EXPECT_EQ(j["user_agent"], e.user_agent);
  EXPECT_EQ(j["authority"], "bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
  EXPECT_EQ(j["response_code"], 403);
  EXPECT_EQ(j["bytes_received"], 12);
  EXPECT_TRUE(j["upstream_service_time"].is_null());
  EXPECT_TRUE(j["requested_server_name"].is_null());
  EXPECT_EQ(j["response_flags"], "-");
}

TEST(AccessLineTest, RandomBytesAlwaysParse) {
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (int k = 0; k < 12; ++k) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      s.push_back(static_cast<char>(x & 0xff));
    }
    AccessEntry e;
    e.path = s;
    std::string line = AccessLine(e);
    ASSERT_NO_THROW(nlohmann::json::parse(line)) << line;
  }
}

}  // namespace
}  // namespace warden::gateway
