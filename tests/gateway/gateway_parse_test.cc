// The gateway's parsers of what pods send, on real and crafted input: the ClientHello's server
// name (a real hello made by OpenSSL, split anywhere, re-framed over several records, damaged)
// and the HTTP request as it is authorized and sent upstream.
#include <openssl/ssl.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "agent/gateway/client_hello.h"
#include "agent/gateway/http_request.h"

namespace warden::gateway {
namespace {

namespace http = boost::beast::http;
using State = ClientHello::State;

// The first flight of a real TLS client asking for `sni` ("" = none).
std::string RealClientHello(const std::string& sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  SSL_connect(ssl);  // wants to read the server's answer: the hello is in `out`
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

TEST(ClientHelloTest, ReadsTheServerNameOfARealHello) {
  ClientHello h = ParseClientHello(RealClientHello("Example.COM"));
  EXPECT_EQ(h.state, State::kDone);
  EXPECT_EQ(h.sni, "example.com");
  ClientHello none = ParseClientHello(RealClientHello(""));
  EXPECT_EQ(none.state, State::kDone);
  EXPECT_EQ(none.sni, "");
}

TEST(ClientHelloTest, AnyPrefixNeedsMoreAndNeverMore) {
  const std::string hello = RealClientHello("api.example.com");
  for (size_t n = 0; n < hello.size(); ++n) {
    ClientHello h = ParseClientHello(hello.substr(0, n));
    ASSERT_EQ(h.state, State::kNeedMore) << n << ": " << h.error;
  }
  EXPECT_EQ(ParseClientHello(hello + "trailing bytes").sni, "api.example.com");
}

// A hello may be fragmented over several handshake records (RFC 8446 5.1).
TEST(ClientHelloTest, AHelloSpreadOverRecordsIsReassembled) {
  const std::string hello = RealClientHello("split.example.com");
  const std::string body = hello.substr(5);
  std::string reframed;
  for (size_t at = 0; at < body.size(); at += 7) {
    std::string piece = body.substr(at, 7);
    reframed += std::string("\x16\x03\x01", 3);
    reframed += static_cast<char>(piece.size() >> 8);
    reframed += static_cast<char>(piece.size() & 0xff);
    reframed += piece;
  }
  EXPECT_EQ(ParseClientHello(reframed).sni, "split.example.com");
}

TEST(ClientHelloTest, WhatIsNotAHelloIsInvalid) {
  EXPECT_EQ(ParseClientHello("GET / HTTP/1.1\r\n").state, State::kInvalid);
  EXPECT_EQ(ParseClientHello(std::string("\x16\x03\x01\x00\x00", 5)).state, State::kInvalid);
  // A handshake record that holds a ServerHello.
  std::string hello = RealClientHello("x.test");
  hello[5] = 2;
  EXPECT_EQ(ParseClientHello(hello).state, State::kInvalid);
  // More bytes than any hello, still incomplete.
  std::string big(kMaxClientHelloBytes + 10, '\x16');
  EXPECT_EQ(ParseClientHello(big).state, State::kInvalid);
  // A name with a byte no DNS name has.
  std::string bad = RealClientHello("bad.test");
  bad.replace(bad.find("bad.test"), 8, std::string("bad\ntest"));
  EXPECT_EQ(ParseClientHello(bad).state, State::kInvalid);
}

RequestHeader Header(http::verb method, const std::string& target,
                     std::vector<std::pair<std::string, std::string>> fields) {
  RequestHeader h;
  h.method(method);
  h.target(target);
  h.version(11);
  for (const auto& [k, v] : fields) h.insert(k, v);
  return h;
}

TEST(HttpRequestTest, OriginAndAbsoluteFormsAreAuthorizedOnTheirHost) {
  auto p = ParseRequest(Header(http::verb::get, "/a/../b?q=1", {{"Host", "Example.com"}}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->request.authority, "Example.com");
  EXPECT_EQ(p->request.path, "/b");
  EXPECT_EQ(p->origin_target, "/a/../b?q=1");
  EXPECT_EQ(p->request.headers.find("host")->second, "Example.com");
  // Absolute form: its authority wins over Host; upstream gets the origin form.
  auto a =
      ParseRequest(Header(http::verb::get, "http://httpbin.org/get?x", {{"Host", "example.com"}}));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->request.authority, "httpbin.org");
  EXPECT_EQ(a->origin_target, "/get?x");
  RequestHeader up = Header(http::verb::get, "http://httpbin.org/get?x", {{"Host", "example.com"}});
  PrepareUpstream(*a, &up);
  EXPECT_EQ(std::string(up.target()), "/get?x");
  EXPECT_EQ(std::string(up[http::field::host]), "httpbin.org");
}

TEST(HttpRequestTest, RequestsThatCannotBeAuthorizedAreRefused) {
  EXPECT_FALSE(ParseRequest(Header(http::verb::get, "/", {})).ok()) << "no Host";
  EXPECT_FALSE(
      ParseRequest(Header(http::verb::get, "/", {{"Host", "a.test"}, {"Host", "b.test"}})).ok());
  EXPECT_FALSE(ParseRequest(Header(http::verb::connect, "a.test:443", {{"Host", "a.test"}})).ok());
  EXPECT_FALSE(ParseRequest(Header(http::verb::get, "/%00", {{"Host", "a.test"}})).ok());
  EXPECT_FALSE(ParseRequest(Header(http::verb::get, "relative", {{"Host", "a.test"}})).ok());
  EXPECT_FALSE(
      ParseRequest(Header(http::verb::get, "http://user@a.test/", {{"Host", "a.test"}})).ok());
}

TEST(HttpRequestTest, HopByHopHeadersStayOnTheirHop) {
  RequestHeader h = Header(http::verb::get, "/",
                           {{"Host", "a.test"},
                            {"Connection", "keep-alive, X-Secret"},
                            {"X-Secret", "s"},
                            {"Proxy-Authorization", "Basic x"},
                            {"Upgrade", "websocket"},
                            {"Expect", "100-continue"},
                            {"TE", "trailers"},
                            {"X-Kept", "k"}});
  auto p = ParseRequest(h);
  ASSERT_TRUE(p.ok());
  PrepareUpstream(*p, &h);
  for (const char* gone :
       {"Connection", "X-Secret", "Proxy-Authorization", "Upgrade", "Expect", "TE"})
    EXPECT_EQ(h.count(gone), 0u) << gone;
  EXPECT_EQ(std::string(h["X-Kept"]), "k");
  ResponseHeader r;
  r.insert("Connection", "close, X-Hop");
  r.insert("X-Hop", "1");
  r.insert("Keep-Alive", "timeout=5");
  r.insert("Content-Type", "text/plain");
  PrepareDownstream(&r);
  EXPECT_EQ(r.count("X-Hop"), 0u);
  EXPECT_EQ(r.count("Keep-Alive"), 0u);
  EXPECT_EQ(r.count("Content-Type"), 1u);
}

}  // namespace
}  // namespace warden::gateway
