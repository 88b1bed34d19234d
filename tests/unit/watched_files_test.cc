// common::WatchedFiles sees the ways a file is replaced (a rename over it, the kubelet's swap of
// a Secret volume's ..data symlink, a rewrite in place, removal), once per change and no more
// often than its interval; common::LoadTlsPem refuses a bad certificate or a key that is not the
// certificate's, naming the file.
#include "agent/common/watched_files.h"

#include <stdio.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/common/tls_files.h"
#include "agent/lab/lab_pki.h"
#include "tests/lib/scratch_dir.h"
#include "tests/lib/secret_volume.h"

namespace warden::common {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string Scratch() {
  return fs::temp_directory_path().string() + "/warden-watched-" + std::to_string(getpid());
}

TEST(WatchedFilesTest, ARenameOverTheFileIsAChangeSeenOnce) {
  testlib::ScratchDir dir(Scratch());
  const std::string f = dir.path() + "/cert.pem";
  std::ofstream(f) << "one";
  WatchedFiles w({f}, milliseconds(0));
  EXPECT_FALSE(w.Changed());
  std::ofstream(f + ".new") << "two";
  ASSERT_EQ(rename((f + ".new").c_str(), f.c_str()), 0);
  EXPECT_TRUE(w.Changed());
  EXPECT_FALSE(w.Changed()) << "one change, told once";
}

TEST(WatchedFilesTest, ARewriteInPlaceAndARemovalAreChanges) {
  testlib::ScratchDir dir(Scratch());
  const std::string f = dir.path() + "/key.pem";
  std::ofstream(f) << "one";
  WatchedFiles w({f}, milliseconds(0));
  std::ofstream(f, std::ios::trunc) << "a longer text";
  EXPECT_TRUE(w.Changed());
  fs::remove(f);
  EXPECT_TRUE(w.Changed());
  EXPECT_FALSE(w.Changed());
  std::ofstream(f) << "back";
  EXPECT_TRUE(w.Changed());
}

TEST(WatchedFilesTest, TheKubeletsSymlinkSwapChangesEveryFileThroughIt) {
  testlib::ScratchDir dir(Scratch());
  ASSERT_TRUE(lab::MakePki(dir.path() + "/pki", {}).ok());
  auto v = testlib::SecretVolume::Create(dir.path() + "/secret", dir.path() + "/pki", "node-a");
  ASSERT_TRUE(v.ok()) << v.status();
  for (const std::string& path : {v->cert(), v->key(), v->ca()}) {
    SCOPED_TRACE(path);
    WatchedFiles w({path}, milliseconds(0));
    EXPECT_FALSE(w.Changed());
    ASSERT_TRUE(v->Rotate().ok());
    EXPECT_TRUE(w.Changed()) << "the path is a symlink to ..data/...: the file it leads to changed";
    EXPECT_FALSE(w.Changed());
  }
}

TEST(WatchedFilesTest, LooksNoMoreOftenThanItsInterval) {
  testlib::ScratchDir dir(Scratch());
  const std::string f = dir.path() + "/ca.pem";
  std::ofstream(f) << "one";
  WatchedFiles w({f}, milliseconds(300));
  std::ofstream(f + ".new") << "two";
  ASSERT_EQ(rename((f + ".new").c_str(), f.c_str()), 0);
  EXPECT_FALSE(w.Changed()) << "looked before the interval";
  EXPECT_TRUE(w.ChangedNow());
  std::ofstream(f + ".new") << "three";
  ASSERT_EQ(rename((f + ".new").c_str(), f.c_str()), 0);
  std::this_thread::sleep_for(milliseconds(350));
  EXPECT_TRUE(w.Changed());
}

TEST(TlsFilesTest, LoadsAGoodSetAndNamesTheFileOfABadOne) {
  testlib::ScratchDir dir(Scratch());
  ASSERT_TRUE(lab::MakePki(dir.path() + "/pki", {}).ok());
  auto v = testlib::SecretVolume::Create(dir.path() + "/secret", dir.path() + "/pki", "node-a");
  ASSERT_TRUE(v.ok()) << v.status();
  auto good = LoadTlsPem(v->cert(), v->key(), v->ca());
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_NE(testlib::SerialOfPem(good->cert), "");

  ASSERT_TRUE(v->RotateToMismatchedKey().ok());
  auto mismatched = LoadTlsPem(v->cert(), v->key(), v->ca());
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("key " + v->key() + ": does not match"),
            std::string::npos)
      << mismatched.status().message();

  ASSERT_TRUE(v->RotateToGarbage().ok());
  auto garbage = LoadTlsPem(v->cert(), v->key(), v->ca());
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("certificate " + v->cert() + ": no PEM certificate"),
            std::string::npos)
      << garbage.status().message();
  EXPECT_FALSE(LoadTlsPem(v->cert(), dir.path() + "/none", v->ca()).ok());
}

}  // namespace
}  // namespace warden::common
