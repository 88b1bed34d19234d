#include "tests/lib/fake_api_server.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/common/files.h"
#include "agent/lab/lab_pki.h"

namespace warden::testlib {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string ApiRequest::Param(const std::string& key) const {
  size_t q = target.find('?');
  if (q == std::string::npos) return "";
  for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&')) {
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key)
      return eq == absl::string_view::npos ? "" : std::string(kv.substr(eq + 1));
  }
  return "";
}

struct FakeApiServer::Impl {
  asio::io_context io;
  asio::ssl::context ctx{asio::ssl::context::tls_server};
  tcp::acceptor acceptor{io};
  Handler handler;
  std::string ca;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<ApiRequest> requests;
  std::set<int> open_fds;
  std::vector<std::thread> threads;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};

  class Exchange : public ApiExchange {
   public:
    Exchange(Impl* s, asio::ssl::stream<tcp::socket>* st) : s_(s), st_(st) {}
    void Respond(int status, const std::string& body) override {
      Write(absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Type: application/json\r\n",
                         "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body));
    }
    void StartStream() override {
      Write(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          "Transfer-Encoding: chunked\r\n\r\n");
    }
    void Line(const std::string& line) override {
      std::string l = line + "\n";
      Write(absl::StrCat(absl::Hex(l.size()), "\r\n", l, "\r\n"));
    }
    void End() override { Write("0\r\n\r\n"); }
    void Break() override {
      boost::system::error_code ec;
      st_->lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
      st_->lowest_layer().close(ec);
    }
    bool Stopping() const override { return s_->stopping; }
    void Pause(int ms) override {
      std::unique_lock<std::mutex> l(s_->mu);
      s_->cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return s_->stopping.load(); });
    }

   private:
    void Write(const std::string& bytes) {
      boost::system::error_code ec;
      if (st_->lowest_layer().is_open()) asio::write(*st_, asio::buffer(bytes), ec);
    }
    Impl* s_;
    asio::ssl::stream<tcp::socket>* st_;
  };

  void Serve(tcp::socket sock) {
    int fd = sock.native_handle();
    {
      std::lock_guard<std::mutex> l(mu);
      open_fds.insert(fd);
    }
    asio::ssl::stream<tcp::socket> st(std::move(sock), ctx);
    boost::system::error_code ec;
    st.handshake(asio::ssl::stream_base::server, ec);
    if (!ec) {
      beast::flat_buffer buf;
      http::request<http::empty_body> req;
      http::read(st, buf, req, ec);
      if (!ec) {
        ApiRequest r{std::string(req.target()), std::string(req[http::field::authorization])};
        {
          std::lock_guard<std::mutex> l(mu);
          requests.push_back(r);
        }
        Exchange x(this, &st);
        handler(r, x);
      }
    }
    {
      std::lock_guard<std::mutex> l(mu);
      open_fds.erase(fd);
    }
    st.lowest_layer().close(ec);
  }
};

FakeApiServer::FakeApiServer(const std::string& pki_dir, Handler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  if (auto st = lab::MakePki(pki_dir, {{"api", "127.0.0.1"}}); !st.ok())
    throw std::runtime_error(std::string(st.message()));
  impl_->ca = *common::ReadFile(lab::CaPath(pki_dir));
  impl_->ctx.use_certificate_chain_file(lab::CertPath(pki_dir, "api"));
  impl_->ctx.use_private_key_file(lab::KeyPath(pki_dir, "api"), asio::ssl::context::pem);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] {
    while (!impl_->stopping) {
      boost::system::error_code ec;
      tcp::socket s(impl_->io);
      impl_->acceptor.accept(s, ec);
      if (ec || impl_->stopping) break;
      std::lock_guard<std::mutex> l(impl_->mu);
      impl_->threads.emplace_back(
          [this, s = std::move(s)]() mutable { impl_->Serve(std::move(s)); });
    }
  });
}

FakeApiServer::~FakeApiServer() { Stop(); }

void FakeApiServer::Stop() {
  if (impl_->stopping.exchange(true)) return;
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
  }
  impl_->cv.notify_all();
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    threads.swap(impl_->threads);
  }
  for (auto& t : threads) t.join();
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

std::string FakeApiServer::ca_pem() const { return impl_->ca; }

std::vector<ApiRequest> FakeApiServer::requests() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->requests;
}

std::string ListBody(const std::string& kind, const std::string& api_version,
                     const std::vector<std::string>& items, const std::string& rv,
                     const std::string& continue_token) {
  return absl::StrCat(R"({"kind":")", kind, R"(List","apiVersion":")", api_version,
                      R"(","metadata":{"resourceVersion":")", rv, R"(","continue":")",
                      continue_token, R"("},"items":[)", absl::StrJoin(items, ","), "]}");
}

std::string Event(const std::string& type, const std::string& object_json) {
  return absl::StrCat(R"({"type":")", type, R"(","object":)", object_json, "}");
}

std::string Bookmark(const std::string& rv, bool initial_events_end) {
  std::string annotations =
      initial_events_end ? R"(,"annotations":{"k8s.io/initial-events-end":"true"})" : "";
  return absl::StrCat(R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1",)",
                      R"("metadata":{"resourceVersion":")", rv, "\"", annotations, "}}}");
}

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":)", code,
                      R"(,"reason":")", reason, R"(","message":")", message, R"("})");
}

}  // namespace warden::testlib
