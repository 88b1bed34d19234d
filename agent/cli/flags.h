// Flag parsing shared by the subcommands (Boost.Program_options).
#pragma once

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/common/log.h"
#include "agent/common/status_macros.h"
#include "agent/policy/allowance.h"
#include "agent/policy/ip.h"

namespace warden::cli {

// How a command fails: its message on stderr, after the command's name, and the exit code: 2 for
// bad input (flags, manifests, addresses: InvalidArgument, NotFound), 1 for anything else.
inline int CommandFailed(const std::string& command, const absl::Status& st) {
  std::cerr << "warden " << command << ": " << st.message() << "\n";
  return absl::IsInvalidArgument(st) || absl::IsNotFound(st) ? 2 : 1;
}
inline int BadInput(const std::string& command, const std::string& message) {
  return CommandFailed(command, absl::InvalidArgumentError(message));
}

// Parses `args` into `vm`. Returns nothing to go on, or the exit code to return at once: 0 after
// printing help for --help, 2 after printing the error for a bad flag.
inline std::optional<int> ParseFlags(const char* command,
                                     const boost::program_options::options_description& desc,
                                     const std::vector<std::string>& args,
                                     boost::program_options::variables_map* vm) {
  namespace po = boost::program_options;
  try {
    po::store(po::command_line_parser(args).options(desc).run(), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    return BadInput(command, e.what());
  }
  if (vm->count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  return std::nullopt;
}

// Parses every value of a repeatable flag with `parse` (returning absl::StatusOr<T>); the error
// names the flag.
template <typename T, typename Parse>
absl::Status ParseEach(const char* flag, const std::vector<std::string>& values, Parse parse,
                       std::vector<T>* out) {
  for (const auto& v : values) {
    auto p = parse(v);
    if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(flag, ": ", p.status().message()));
    out->push_back(*p);
  }
  return absl::OkStatus();
}

// --allow-world and --cluster-cidr, which `warden control` and `warden node` both take.
inline absl::Status ParseWorldFlags(const std::vector<std::string>& allow,
                                    const std::vector<std::string>& cluster,
                                    std::vector<policy::Allowance>* allowances,
                                    std::vector<policy::Cidr>* cluster_cidrs) {
  if (auto st = ParseEach("--allow-world", allow, policy::ParseAllowance, allowances); !st.ok())
    return st;
  return ParseEach(
      "--cluster-cidr", cluster, [](const std::string& c) { return policy::ParseCidr(c); },
      cluster_cidrs);
}

// --log-level, which every daemon takes.
inline absl::Status ApplyLogLevel(const std::string& level) {
  WD_ASSIGN_OR_RETURN(common::LogLevel l, common::ParseLogLevel(level));
  common::SetLogLevel(l);
  return absl::OkStatus();
}

}  // namespace warden::cli
