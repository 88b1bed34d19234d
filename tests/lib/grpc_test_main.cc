// main() for the test binaries that run gRPC. gRPC's own threads (executor, timers) must be
// joined before the process exits: a thread still running while exit() tears OpenSSL down
// leaves its per-thread error state behind, and LeakSanitizer reports it (904 bytes from
// ERR_clear_error on a gRPC executor thread, seen on CI).
//
// gRPC joins them in its last grpc_shutdown(), but only when that runs on an application thread:
// from one of its own threads (a cancelled call's channel released late) it hands the clean-up
// to a detached thread. So this main holds one reference for the whole run, waits (bounded) for
// every reference the tests' objects still hold to go, and then takes the library once more and
// shuts it down here, on the main thread, where the clean-up joins those threads.
#include <grpc/grpc.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

int main(int argc, char** argv) {
  grpc_init();
  ::testing::InitGoogleTest(&argc, argv);
  int failed = RUN_ALL_TESTS();
  grpc_shutdown_blocking();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (grpc_is_initialized() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  grpc_init();
  grpc_shutdown_blocking();
  return failed;
}
