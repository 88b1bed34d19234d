#include "agent/common/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace warden::common {

absl::Status EnterNetns(const std::string& name) {
  std::string path = "/var/run/netns/" + name;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("netns ", name, ": ", std::strerror(errno)));
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("setns ", name, ": ", std::strerror(err)));
  return absl::OkStatus();
}

}  // namespace warden::common
