// One HTTP/1.1 request as the gateway sees it: what it is authorized on (egress::Request, with the
// path normalized as Istio does) and how it is sent upstream (origin-form target, hop-by-hop
// headers removed).
#pragma once

#include <string>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>

#include "absl/status/statusor.h"
#include "agent/egress/request.h"
#include "agent/gateway/recycler.h"

namespace warden::gateway {

// Header fields in recycled memory: Beast allocates each field on its own, a dozen a request.
using Fields = boost::beast::http::basic_fields<RecyclingAllocator<char>>;
using RequestHeader = boost::beast::http::request_header<Fields>;
using ResponseHeader = boost::beast::http::response_header<Fields>;
// Parsers whose body goes through a caller's buffer (streamed, never held whole).
using RequestParser =
    boost::beast::http::request_parser<boost::beast::http::buffer_body, RecyclingAllocator<char>>;
using ResponseParser =
    boost::beast::http::response_parser<boost::beast::http::buffer_body, RecyclingAllocator<char>>;

struct ParsedRequest {
  egress::Request request;    // method, authority, path (normalized), headers; no source yet
  std::string origin_target;  // the target to send upstream: "/path?query" as received
  std::string raw_path;       // the path as received (for the access log's `path`)
};

// The request a header describes, or InvalidArgument (the gateway answers 400) naming what is
// wrong: no Host (or two), a target that is neither origin- nor absolute-form, a path that
// fails normalization, CONNECT (not proxied), a header value with a control character.
absl::StatusOr<ParsedRequest> ParseRequest(const RequestHeader& h);

// `h` made fit to send upstream: the target in origin form, the Host the request was authorized
// for, hop-by-hop headers (Connection and those it names, Keep-Alive, Proxy-*, TE, Upgrade)
// and Expect removed (the gateway answers 100-continue itself), keep-alive asked for.
void PrepareUpstream(const ParsedRequest& p, RequestHeader* h);

// The hop-by-hop headers of a response removed before it goes back to the pod.
void PrepareDownstream(ResponseHeader* h);

}  // namespace warden::gateway
