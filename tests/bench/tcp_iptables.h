// The iptables variants of datapath_bench [2], in the server's network namespace INPUT chain
// (whatever `iptables` is here; Debian 12: the nf_tables backend): an ESTABLISHED,RELATED accept
// first (as iptables-based policy engines do), then either 9,999 non-matching source rules and
// the allowing rule last, or the allowing rule alone (conntrack alone); policy DROP.
#pragma once

#include <cstdint>
#include <string>

namespace warden::bench {

class IptablesRules {
 public:
  // Checks that iptables is installed and writes both rule sets under `dir`. Throws Failure.
  IptablesRules(const std::string& dir, const std::string& ns_server, uint32_t client_addr);

  const std::string& version() const { return version_; }
  // Loads the 10,001 rules (`all`) or the two, with iptables-restore; returns the ms it took.
  double Load(bool all);
  // Flushing and deleting the built-in chain unhooks it (iptables-nft), so later rounds pay
  // nothing.
  void Clear();

 private:
  std::string version_, in_server_, rules_long_, rules_short_;
};

}  // namespace warden::bench
