// The kernel check `warden node` makes before loading anything: this machine's kernel passes (with
// tcx), and a kernel without BTF, or whose BTF lacks the kfunc the packet programs call, is
// refused with a message naming what is missing. Kernels without them are made as BTF files.
#include "agent/datapath/kernel_support.h"

#include <bpf/btf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace warden::datapath {
namespace {

using ::testing::HasSubstr;

// A BTF file with an int, and optionally the kfunc and the tcx attach type.
std::string WriteBtf(const std::string& path, bool kfunc, bool tcx) {
  btf* b = btf__new_empty();
  int i = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  if (kfunc) {
    int proto = btf__add_func_proto(b, i);
    btf__add_func(b, "bpf_cast_to_kern_ctx", BTF_FUNC_GLOBAL, proto);
  }
  btf__add_enum(b, "bpf_attach_type", 4);
  btf__add_enum_value(b, "BPF_CGROUP_INET_INGRESS", 0);
  if (tcx) btf__add_enum_value(b, "BPF_TCX_INGRESS", 46);
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  std::ofstream(path, std::ios::binary).write(static_cast<const char*>(raw), size);
  btf__free(b);
  return path;
}

class KernelSupportTest : public ::testing::Test {
 protected:
  void TearDown() override { unlink(path_.c_str()); }
  std::string path_ = "/tmp/warden-btf-test-" + std::to_string(getpid());
};

TEST_F(KernelSupportTest, ThisMachinesKernelPassesWithTcx) {
  auto k = CheckKernel();
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(k->tcx);  // kernel 6.18 here
}

TEST_F(KernelSupportTest, AKernelWithoutBtfIsRefusedNamingIt) {
  auto k = CheckKernel(path_);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(k.status().message(), HasSubstr("has no BTF at " + path_));
  EXPECT_THAT(k.status().message(), HasSubstr("CONFIG_DEBUG_INFO_BTF"));
}

TEST_F(KernelSupportTest, AKernelWithoutTheKfuncIsRefusedNamingIt) {
  auto k = CheckKernel(WriteBtf(path_, /*kfunc=*/false, /*tcx=*/true));
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(),
              HasSubstr("lacks the kfunc bpf_cast_to_kern_ctx (Linux 6.2 or later)"));
}

TEST_F(KernelSupportTest, AKernelWithoutTcxPassesWithClsact) {
  auto k = CheckKernel(WriteBtf(path_, /*kfunc=*/true, /*tcx=*/false));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_FALSE(k->tcx);
  auto with = CheckKernel(WriteBtf(path_, /*kfunc=*/true, /*tcx=*/true));
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_TRUE(with->tcx);
}

}  // namespace
}  // namespace warden::datapath
