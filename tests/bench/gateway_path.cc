#include "tests/bench/gateway_path.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/lib/shell.h"

namespace warden::bench {
namespace {

namespace fs = std::filesystem;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// curl's time_total of each transfer (seconds), one line each, from inside `place`.
std::vector<double> Times(const std::string& warden, const std::string& state,
                          const std::string& place, const std::string& curl_args) {
  std::string out = testlib::ShOut(absl::StrCat(warden, " lab exec --state ", state, " --in ",
                                                place, " -- curl -s -o /dev/null -w ",
                                                "'%{http_code} %{time_total}\\n' ", curl_args));
  std::vector<double> t;
  std::istringstream in(out);
  int code;
  double s;
  while (in >> code >> s) {
    if (code != 200) throw std::runtime_error(absl::StrCat("curl in ", place, " got ", code));
    t.push_back(s);
  }
  return t;
}

}  // namespace

PathLatency MeasurePath(const std::string& warden, const std::string& source_dir, int samples) {
  const std::string dir =
      absl::StrCat(fs::temp_directory_path().string(), "/warden-path-bench-", getpid());
  const std::string manifests = dir + "/manifests", state = dir + "/state";
  fs::create_directories(manifests);
  for (const auto& f : fs::directory_iterator(source_dir + "/deploy/examples/reference"))
    fs::copy(f.path(), manifests / f.path().filename());
  auto r = testlib::Sh(absl::StrCat(warden, " lab up --manifests ", manifests, " --state ", state));
  struct Down {
    std::string warden, state, dir;
    ~Down() {
      testlib::Sh(absl::StrCat(warden, " lab down --state ", state));
      fs::remove_all(dir);
    }
  } down{warden, state, dir};
  if (r.code != 0) throw std::runtime_error("lab up failed: " + r.out + r.err);
  const std::string via = "--resolve example.com:80:203.0.113.10 http://example.com/";
  const std::string direct = absl::StrCat("--cacert ", state,
                                          "/pki/ca.pem --resolve example.com:443:203.0.113.10 "
                                          "https://example.com/");
  PathLatency p;
  std::vector<double> vf, df, vr, dr;
  // Warm the gateway's upstream pool and the forwarder's TLS tickets first, as a running node's.
  Times(warden, state, "team-x/app", via);
  for (int i = 0; i < samples; ++i) {
    vf.push_back(Times(warden, state, "team-x/app", via).at(0));
    df.push_back(Times(warden, state, "warden-egress/gateway", direct).at(0));
    // Two requests on one connection: the second is the reused one.
    const auto twice = [](const std::string& args) {  // the URL again, its body dropped too
      return args + " -o /dev/null " + args.substr(args.rfind(' ') + 1);
    };
    vr.push_back(Times(warden, state, "team-x/app", twice(via)).at(1));
    dr.push_back(Times(warden, state, "warden-egress/gateway", twice(direct)).at(1));
  }
  p.samples = samples;
  p.via_first_ms = Median(vf) * 1e3;
  p.direct_first_ms = Median(df) * 1e3;
  p.via_reused_us = Median(vr) * 1e6;
  p.direct_reused_us = Median(dr) * 1e6;
  return p;
}

}  // namespace warden::bench
