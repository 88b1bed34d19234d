// A child's Prometheus /metrics endpoint on loopback: a port for it to listen on, fetching the
// page, reading one metric from it.
#pragma once

#include <cstdint>
#include <string>

namespace warden::testlib {

// A port nobody listens on, for a child process to bind later. Throws std::runtime_error when
// none is found.
uint16_t FreePort();

// Whether something accepts TCP connections on 127.0.0.1:`port` now.
bool Listening(uint16_t port);

// The whole HTTP/1.0 response (headers and body) to GET `path` on 127.0.0.1:`port`, or "".
std::string HttpGet(uint16_t port, const std::string& path);

// The value of the first sample of metric `name` (a line "name{...} V" or "name V"), or -1.
double Metric(const std::string& text, const std::string& name);

}  // namespace warden::testlib
