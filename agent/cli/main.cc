// warden: one binary, one subcommand per role.
#include <iostream>
#include <string>
#include <vector>

#include "agent/cli/commands.h"
#include "agent/common/heap_tuning.h"

namespace {
void Usage(std::ostream& out) {
  out << "usage: warden <command> [options]\n\n"
         "commands:\n"
         "  explain   why a flow is allowed or denied (NetworkPolicy, compiled tables), or what\n"
         "            the egress gateway answers a request (--request)\n"
         "  audit     every identity's egress exposure: direct and through the gateway\n"
         "  control   the control plane: pushes each node its state over Sync (mTLS)\n"
         "  gateway   the egress gateway: authorizes forwarded flows by attested identity, host\n"
         "            and path, originates TLS, logs every request\n"
         "  node      the node agent: cgroup BPF enforcement of NetworkPolicy and node-pool "
         "lockdown\n"
         "  inspect   the datapath state an agent pinned (tables, attach points, counters)\n"
         "  lab       a lab cluster of network namespaces and cgroups, with real probes\n\n"
         "Run `warden <command> --help` for the options of a command.\n";
}
}  // namespace

int main(int argc, char** argv) {
  warden::common::TuneHeap();
  if (argc < 2) {
    Usage(std::cerr);
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "explain") return warden::cli::RunExplain(args);
  if (cmd == "audit") return warden::cli::RunAudit(args);
  if (cmd == "node") return warden::cli::RunNode(args);
  if (cmd == "lab") return warden::cli::RunLab(args);
  if (cmd == "inspect") return warden::cli::RunInspect(args);
  if (cmd == "control") return warden::cli::RunControl(args);
  if (cmd == "gateway") return warden::cli::RunGateway(args);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    Usage(std::cout);
    return 0;
  }
  std::cerr << "warden: unknown command \"" << cmd << "\"\n";
  Usage(std::cerr);
  return 2;
}
