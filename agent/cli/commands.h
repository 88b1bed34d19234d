// Subcommands of the `warden` binary. Each takes the arguments after its name and returns the
// process exit code: 0 done, 2 bad input (message on stderr).
#pragma once

#include <string>
#include <vector>

namespace warden::cli {

int RunExplain(const std::vector<std::string>& args);
int RunAudit(const std::vector<std::string>& args);
int RunNode(const std::vector<std::string>& args);
int RunLab(const std::vector<std::string>& args);
int RunInspect(const std::vector<std::string>& args);
int RunControl(const std::vector<std::string>& args);
int RunGateway(const std::vector<std::string>& args);

}  // namespace warden::cli
