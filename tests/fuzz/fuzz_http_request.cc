// A pod's HTTP/1.1 request head as the gateway reads it: Beast's parser with the gateway's limits,
// then the gateway's own reading (agent/gateway/http_request.h) and the upstream rewrite. Any
// bytes are refused or give a request whose authorized path is normalized and whose upstream
// header carries the authority it was authorized for.
#include <cstdint>
#include <cstdlib>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "agent/gateway/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  warden::gateway::RequestParser p;
  p.header_limit(60 * 1024);
  p.eager(false);
  boost::system::error_code ec;
  p.put(boost::asio::buffer(data, size), ec);
  if (ec || !p.is_header_done()) return 0;
  auto parsed = warden::gateway::ParseRequest(p.get().base());
  if (!parsed.ok()) return 0;
  if (parsed->request.path.empty() || parsed->request.path[0] != '/') std::abort();
  if (parsed->request.authority.empty()) std::abort();
  warden::gateway::RequestHeader up = p.get().base();
  warden::gateway::PrepareUpstream(*parsed, &up);
  if (std::string(up[http::field::host]) != parsed->request.authority) std::abort();
  if (up.count(http::field::connection) || up.count(http::field::expect)) std::abort();
  return 0;
}
