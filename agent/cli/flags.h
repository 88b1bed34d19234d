// Flag parsing shared by the subcommands (Boost.Program_options).
#pragma once

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace warden::cli {

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
    std::cerr << "warden " << command << ": " << e.what() << "\n";
    return 2;
  }
  if (vm->count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  return std::nullopt;
}

}  // namespace warden::cli
