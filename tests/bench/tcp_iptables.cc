#include "tests/bench/tcp_iptables.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/datapath_tables.h"
#include "tests/lib/packets.h"
#include "tests/lib/shell.h"
#include "tests/lib/timing.h"

namespace warden::bench {

IptablesRules::IptablesRules(const std::string& dir, const std::string& ns_server,
                             uint32_t client_addr)
    : in_server_(absl::StrCat("ip netns exec ", ns_server, " ")),
      rules_long_(dir + "/rules-10k.v4"),
      rules_short_(dir + "/rules-1.v4") {
  version_ = testlib::ShOut("iptables -V 2>&1");
  if (version_.empty() || version_.find("iptables") == std::string::npos) {
    throw Failure(
        "iptables is not installed (apt-get install -y iptables; scripts/setup-deps installs it)");
  }
  std::ofstream lr(rules_long_), sr(rules_short_);
  for (std::ofstream* o : {&lr, &sr}) {
    *o << "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j "
          "ACCEPT\n";
  }
  for (int j = 0; j < 9999; ++j) {
    lr << "-A INPUT -s " << testlib::Ipv4Text(RemoteAddr(j)) << "/32 -p tcp -m tcp --dport "
       << kPort << " -j ACCEPT\n";
  }
  for (std::ofstream* o : {&lr, &sr}) {
    *o << "-A INPUT -s " << testlib::Ipv4Text(client_addr) << "/32 -p tcp -m tcp --dport " << kPort
       << " -j ACCEPT\nCOMMIT\n";
  }
}

double IptablesRules::Load(bool all) {
  auto t0 = testlib::Clock::now();
  testlib::MustSh(in_server_ + "iptables-restore " + (all ? rules_long_ : rules_short_));
  return testlib::MsSince(t0);
}

void IptablesRules::Clear() {
  testlib::MustSh(in_server_ +
                  "sh -c 'iptables -P INPUT ACCEPT && iptables -F INPUT && iptables -X INPUT'");
}

}  // namespace warden::bench
