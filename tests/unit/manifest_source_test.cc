// ManifestSource keeps the last valid version of a file that turns invalid, so a bad edit never
// changes what is enforced; deleting a file does. And whatever else sits in a manifests
// directory (symlink loops, directory cycles, FIFOs, devices, unreadable or huge files) is
// reported and skipped by both readers, never a crash, a hang or a loop.
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/manifest_dir.h"
#include "agent/policy/manifest_loader.h"
#include "agent/policy/manifest_source.h"

namespace warden::policy {
namespace {

namespace fs = std::filesystem;

class ManifestSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("warden-src-" + std::to_string(getpid()));
    fs::create_directories(dir_ / "sub");
  }
  void TearDown() override {
    fs::remove_all(dir_);
    fs::remove_all(dir_.string() + "-outside");
    fs::remove_all(dir_.string() + "-fifo");
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  fs::path dir_;
};

const char* kPolicy = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)";

const char* kPod = R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
status: {podIP: 10.0.0.1}
)";

TEST_F(ManifestSourceTest, InvalidEditKeepsLastValidVersion) {
  Write("pod.yaml", kPod);
  Write("sub/policy.yaml", kPolicy);
  ManifestSource src(dir_.string());
  LoadResult r = src.Load();
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.state.policies.count("x/deny"), 1u);

  // A broken edit: the policy stays in force, the error is reported.
  Write("sub/policy.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: "
        "x}\nspec:\n  policyTypes: [Sideways]\n");
  r = src.Load();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].file.find("policy.yaml"), std::string::npos);
  EXPECT_EQ(r.errors[0].field, "spec.policyTypes[0]");
  EXPECT_EQ(r.state.policies.count("x/deny"), 1u);
  EXPECT_TRUE(r.state.policies.at("x/deny").affects_ingress);
  EXPECT_EQ(r.state.pods.count("x/a"), 1u);

  // Unparseable YAML: the same.
  Write("sub/policy.yaml", "spec: [unclosed\n");
  r = src.Load();
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.state.policies.count("x/deny"), 1u);

  // Fixed: the new version applies.
  Write("sub/policy.yaml", std::string(kPolicy) + "  ingress: [{}]\n");
  r = src.Load();
  ASSERT_TRUE(r.errors.empty());
  EXPECT_EQ(r.state.policies.at("x/deny").ingress.size(), 1u);

  // Deleted: gone.
  fs::remove(dir_ / "sub/policy.yaml");
  r = src.Load();
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.state.policies.count("x/deny"), 0u);
}

TEST_F(ManifestSourceTest, NewInvalidFileContributesNothing) {
  Write("pod.yaml", kPod);
  ManifestSource src(dir_.string());
  ASSERT_TRUE(src.Load().errors.empty());
  Write("bad.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: "
        "x}\nspec:\n  podSelector: {}\n  ingress: [{from: [{}]}]\n");
  LoadResult r = src.Load();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.state.policies.size(), 0u);
  EXPECT_EQ(r.state.pods.size(), 1u);
}

// Everything a load says, as text: objects with where they came from, errors, pod IP index.
std::string Describe(const LoadResult& r) {
  std::string out;
  auto src = [](const SourceRef& s) { return absl::StrCat(" @", s.file, ":", s.line); };
  for (const auto& [k, ns] : r.state.namespaces)
    absl::StrAppend(&out, "ns ", k, ns.implicit ? " implicit" : src(ns.source), "\n");
  for (const auto& [k, n] : r.state.nodes) absl::StrAppend(&out, "node ", k, src(n.source), "\n");
  for (const auto& [k, p] : r.state.pods) {
    absl::StrAppend(&out, "pod ", k, src(p.source));
    for (const auto& ip : p.ips) {
      const Pod* owner = r.state.FindPodByIp(ip);
      absl::StrAppend(&out, " ", ip.ToString(), "->", owner ? owner->Key() : "none");
    }
    absl::StrAppend(&out, "\n");
  }
  for (const auto& [k, np] : r.state.policies)
    absl::StrAppend(&out, "policy ", k, src(np.source), " ingress=", np.ingress.size(), "\n");
  for (const auto& e : r.errors) absl::StrAppend(&out, "error ", e.ToString(), "\n");
  return out;
}

std::string PodIn(const std::string& ns, const std::string& name, const std::string& ip) {
  return absl::StrCat("apiVersion: v1\nkind: Pod\nmetadata: {name: ", name, ", namespace: ", ns,
                      "}\nstatus: {podIP: ", ip, "}\n");
}

std::string PolicyIn(const std::string& ns, const std::string& name, int rules) {
  std::string s =
      absl::StrCat("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n",
                   "metadata: {name: ", name, ", namespace: ", ns, "}\nspec:\n  podSelector: {}\n");
  if (rules > 0) {
    absl::StrAppend(&s, "  ingress:\n");
    for (int i = 0; i < rules; ++i) absl::StrAppend(&s, "  - ports: [{port: ", 80 + i, "}]\n");
  }
  return s;
}

// Reloads reuse the maps of kinds whose files did not change; whatever the edits, a reload must
// say exactly what a fresh load of the same directory says.
TEST_F(ManifestSourceTest, ReloadSharesUnchangedKindsAndEqualsAFreshLoad) {
  Write("a-pods.yaml",
        absl::StrCat(PodIn("x", "a", "10.0.0.1"), "---\n", PodIn("x", "b", "10.0.0.2")));
  Write("b-policy.yaml", PolicyIn("x", "deny", 0));
  Write("c-ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n");
  ManifestSource src(dir_.string());
  LoadResult r0 = src.Load();
  ASSERT_TRUE(r0.errors.empty());
  EXPECT_EQ(Describe(r0), Describe(LoadManifestDir(dir_.string())));

  // A policy edit: pods, namespaces and nodes are the very same maps; policies are new.
  Write("b-policy.yaml", PolicyIn("x", "deny", 2));
  LoadResult r1 = src.Load();
  EXPECT_TRUE(r1.state.pods.SameObject(r0.state.pods));
  EXPECT_TRUE(r1.state.namespaces.SameObject(r0.state.namespaces));
  EXPECT_TRUE(r1.state.nodes.SameObject(r0.state.nodes));
  EXPECT_FALSE(r1.state.policies.SameObject(r0.state.policies));
  EXPECT_EQ(r1.state.policies.at("x/deny").ingress.size(), 2u);
  EXPECT_EQ(r0.state.policies.at("x/deny").ingress.size(), 0u);  // the old state is untouched
  EXPECT_EQ(Describe(r1), Describe(LoadManifestDir(dir_.string())));
  ASSERT_NE(r1.state.FindPodByIp(*ParseIp("10.0.0.2")), nullptr);

  // A pod edit: policies shared, pods new, and the pod IP index follows the new pods.
  Write("a-pods.yaml",
        absl::StrCat(PodIn("x", "a", "10.0.0.1"), "---\n", PodIn("x", "b", "10.0.0.3")));
  LoadResult r2 = src.Load();
  EXPECT_TRUE(r2.state.policies.SameObject(r1.state.policies));
  EXPECT_FALSE(r2.state.pods.SameObject(r1.state.pods));
  EXPECT_EQ(r2.state.FindPodByIp(*ParseIp("10.0.0.2")), nullptr);
  ASSERT_NE(r2.state.FindPodByIp(*ParseIp("10.0.0.3")), nullptr);
  EXPECT_EQ(Describe(r2), Describe(LoadManifestDir(dir_.string())));

  // Sequences where a kind's files keep their contents but their fate changes: a file later
  // in order duplicates a name, an earlier one takes it over, a policy names a namespace that
  // has no object (implicit), then it goes away again.
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"d-dup.yaml", PodIn("x", "a", "10.0.0.9")},    // rejected: x/a in a-pods
      {"0-first.yaml", PodIn("x", "a", "10.0.0.8")},  // takes x/a: a-pods rejected
      {"0-first.yaml", ""},                           // gone: a-pods back, d-dup out
      {"b-policy.yaml", PolicyIn("y", "deny", 1)},    // namespace y implicit
      {"e-ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: y}\n"},  // y declared
      {"b-policy.yaml", PolicyIn("x", "deny", 1)},                              // y still declared
      {"e-ns.yaml", ""},                                                        // y gone
      {"d-dup.yaml", PodIn("z", "q", "10.0.0.9")},  // namespace z implicit
      {"d-dup.yaml", ""},
      // The pods stay the same map while their namespace's object comes and goes (no policy
      // names x meanwhile: only its pods make it implicit).
      {"b-policy.yaml", PolicyIn("y", "deny", 1)},
      {"c-ns.yaml", ""},                                                        // x implicit
      {"c-ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"},  // x declared
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    const auto& [file, text] = edits[i];
    if (text.empty())
      fs::remove(dir_ / file);
    else
      Write(file, text);
    LoadResult r = src.Load();
    EXPECT_EQ(Describe(r), Describe(LoadManifestDir(dir_.string()))) << "after edit " << i;
  }
}

// Files are not read again while stat() says they are unchanged; an edit that keeps the size
// (port 81 -> 82) must still be seen, both right after the last read (same timestamp tick) and
// once the file's stamp is old enough to be trusted.
TEST_F(ManifestSourceTest, SameSizeEditsAreSeen) {
  Write("policy.yaml", PolicyIn("x", "deny", 1));
  ManifestSource src(dir_.string());
  auto port_of = [](const LoadResult& r) {
    const auto& ports = r.state.policies.at("x/deny").ingress.at(0).ports;
    return std::get<int>(ports.at(0).port);
  };
  ASSERT_EQ(port_of(src.Load()), 80);
  auto rewrite = [&](int port) {
    std::string text = PolicyIn("x", "deny", 1);
    text.replace(text.find("80"), 2, std::to_string(port));
    Write("policy.yaml", text);
  };
  rewrite(81);
  EXPECT_EQ(port_of(src.Load()), 81);
  rewrite(82);
  EXPECT_EQ(port_of(src.Load()), 82);
  sleep(2);
  EXPECT_EQ(port_of(src.Load()), 82);  // read again: its stamp was too young to trust
  EXPECT_EQ(port_of(src.Load()), 82);  // from the stamp
  rewrite(83);
  EXPECT_EQ(port_of(src.Load()), 83);
}

// A ConfigMap volume: the files live in a hidden `..<timestamp>/` directory, `..data` links to it
// and each visible name links into `..data`; an update writes a new directory and swaps the
// `..data` link. Every object loads once, and the swap is seen.
TEST_F(ManifestSourceTest, ConfigMapVolumeLoadsEachObjectOnce) {
  fs::create_directories(dir_ / "..2026_11_25_01");
  Write("..2026_11_25_01/policy.yaml", PolicyIn("x", "deny", 1));
  fs::create_directory_symlink("..2026_11_25_01", dir_ / "..data");
  fs::create_symlink("..data/policy.yaml", dir_ / "policy.yaml");
  ManifestSource src(dir_.string());
  LoadResult r = src.Load();
  EXPECT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_EQ(r.state.policies.size(), 1u);
  EXPECT_EQ(r.state.policies.at("x/deny").ingress.size(), 1u);
  EXPECT_EQ(Describe(r), Describe(LoadManifestDir(dir_.string())));

  fs::create_directories(dir_ / "..2026_11_25_02");
  Write("..2026_11_25_02/policy.yaml", PolicyIn("x", "deny", 2));
  fs::create_directory_symlink("..2026_11_25_02", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  fs::remove_all(dir_ / "..2026_11_25_01");
  r = src.Load();
  EXPECT_TRUE(r.errors.empty()) << r.errors[0].ToString();
  ASSERT_EQ(r.state.policies.size(), 1u);
  EXPECT_EQ(r.state.policies.at("x/deny").ingress.size(), 2u);
}

// ---- what else a manifests directory may hold ----------------------------------------------

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Each error as "path: message" with the path relative to `dir`, in order.
std::vector<std::string> ErrorLines(const LoadResult& r, const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : r.errors)
    out.push_back(absl::StrCat(fs::path(e.file).lexically_relative(dir).string(), ": ", e.message));
  return out;
}

// Runs `check` as a user that is not root, so that permissions apply: in a child process that
// drops to nobody when this one runs as root (it returns the child's verdict), directly
// otherwise. `check` returns "" when it holds, else what went wrong.
std::string AsUnprivileged(const std::function<std::string()>& check) {
  if (geteuid() != 0) return check();
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string why = setgid(65534) != 0 || setuid(65534) != 0 ? "cannot become nobody" : check();
    (void)!write(pipe_fds[1], why.data(), why.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string why;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof(buf))) > 0;) why.append(buf, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child failed";
  return why;
}

// Both readers on the directory as it is now: the one-shot LoadManifestDir and a fresh
// ManifestSource. Each must load `pod.yaml` (the valid file beside the odd entries) and report
// exactly `errors`.
void ExpectBothReaders(const fs::path& dir, const std::vector<std::string>& errors) {
  for (int source = 0; source < 2; ++source) {
    SCOPED_TRACE(source ? "ManifestSource" : "LoadManifestDir");
    LoadResult r = source ? ManifestSource(dir.string()).Load() : LoadManifestDir(dir.string());
    EXPECT_EQ(ErrorLines(r, dir), errors);
    EXPECT_EQ(r.state.pods.count("x/a"), 1u) << "the valid file must still load";
  }
}

// `ln -s loop loop` once made every reader throw (std::filesystem's status() on the entry) and
// `warden explain` abort with SIGABRT.
TEST_F(ManifestSourceTest, SymlinkLoopsAreReportedAndSkipped) {
  Write("pod.yaml", kPod);
  fs::create_symlink("loop", dir_ / "loop");
  fs::create_symlink("b.yaml", dir_ / "a.yaml");
  fs::create_symlink("a.yaml", dir_ / "b.yaml");
  const std::string loop =
      "cannot follow this symlink: a symlink loop (too many levels of symbolic links)";
  ExpectBothReaders(dir_, {absl::StrCat("a.yaml: ", loop), absl::StrCat("b.yaml: ", loop),
                           absl::StrCat("loop: ", loop)});
}

// Symlinks to directories are not followed (a walk through them could loop, or leave the
// directory): each is reported, a link back to a directory above it as a cycle. The real
// directories around them are read as usual.
TEST_F(ManifestSourceTest, SymlinksToDirectoriesAreReportedNotFollowed) {
  Write("pod.yaml", kPod);
  Write("sub/policy.yaml", kPolicy);
  fs::create_directory_symlink("..", dir_ / "sub/up");
  fs::create_directory_symlink(".", dir_ / "self");
  const fs::path outside = dir_.string() + "-outside";
  fs::create_directories(outside);
  std::ofstream(outside / "np.yaml") << PolicyIn("x", "elsewhere", 0);
  fs::create_directory_symlink(outside, dir_ / "linked");
  const std::vector<std::string> want = {
      "linked: not followed: a symlink to a directory (the manifests below it are not read)",
      "self: not followed: a symlink to a directory above it (a cycle)",
      "sub/up: not followed: a symlink to a directory above it (a cycle)"};
  ExpectBothReaders(dir_, want);
  LoadResult r = LoadManifestDir(dir_.string());
  EXPECT_EQ(r.state.policies.count("x/deny"), 1u);
  EXPECT_EQ(r.state.policies.count("x/elsewhere"), 0u);
}

// A FIFO is never opened (an open for reading would wait for a writer); nor is a device.
TEST_F(ManifestSourceTest, FifosAndDevicesAreReportedWithoutBeingOpened) {
  Write("pod.yaml", kPod);
  ASSERT_EQ(mkfifo((dir_ / "fifo.yaml").c_str(), 0644), 0);
  const fs::path outside = dir_.string() + "-fifo";
  ASSERT_EQ(mkfifo(outside.c_str(), 0644), 0);
  fs::create_symlink(outside, dir_ / "linked-fifo.yml");
  fs::create_symlink("/dev/zero", dir_ / "zero.json");
  ExpectBothReaders(dir_, {"fifo.yaml: skipped: a FIFO, not a regular file",
                           "linked-fifo.yml: skipped: a FIFO, not a regular file",
                           "zero.json: skipped: a character device, not a regular file"});
}

// A file over kMaxManifestFileBytes is not read (it is sparse here: nothing but its size
// matters); one of exactly that size is.
TEST_F(ManifestSourceTest, FilesOverTheSizeLimitAreReportedAndSkipped) {
  Write("pod.yaml", kPod);
  Write("huge.yaml", "");
  fs::resize_file(dir_ / "huge.yaml", kMaxManifestFileBytes + 1);
  ExpectBothReaders(dir_, {absl::StrCat("huge.yaml: skipped: ", kMaxManifestFileBytes + 1,
                                        " bytes, more than a manifest file may hold (",
                                        kMaxManifestFileBytes, ")")});
  fs::remove(dir_ / "huge.yaml");
  const std::string policy = PolicyIn("x", "deny", 0);
  Write(
      "sub/full.yaml",
      absl::StrCat("#", std::string(kMaxManifestFileBytes - policy.size() - 2, '-'), "\n", policy));
  ASSERT_EQ(fs::file_size(dir_ / "sub/full.yaml"), static_cast<uintmax_t>(kMaxManifestFileBytes));
  LoadResult r = LoadManifestDir(dir_.string());
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.state.policies.count("x/deny"), 1u);
}

// Listed but not readable: a symlink to nothing (what a file deleted between the listing and the
// read looks like too), a file whose permissions refuse reading and a directory whose
// permissions refuse listing (both checked as nobody when the tests run as root, who may read
// anything).
TEST_F(ManifestSourceTest, UnreadableFilesAndDirectoriesAreReported) {
  Write("pod.yaml", kPod);
  fs::create_symlink("nowhere.yaml", dir_ / "dangling.yaml");
  Write("secret.yaml", kPolicy);
  fs::permissions(dir_ / "secret.yaml", fs::perms::none);
  fs::create_directories(dir_ / "closed");
  Write("closed/np.yaml", kPolicy);
  fs::permissions(dir_ / "closed", fs::perms::none);
  std::string why = AsUnprivileged([&]() -> std::string {
    for (int source = 0; source < 2; ++source) {
      LoadResult r = source ? ManifestSource(dir_.string()).Load() : LoadManifestDir(dir_.string());
      const std::vector<std::string> want = {
          "closed: cannot list: Permission denied",
          "dangling.yaml: cannot follow this symlink: No such file or directory",
          "secret.yaml: cannot read: Permission denied"};
      std::vector<std::string> got = ErrorLines(r, dir_);
      if (got != want) return absl::StrCat("errors: ", absl::StrJoin(got, "; "));
      if (r.state.pods.count("x/a") != 1 || !r.state.policies.empty())
        return "the valid file alone must load";
    }
    return "";
  });
  fs::permissions(dir_ / "closed", fs::perms::owner_all);
  EXPECT_EQ(why, "");
}

// For the long-running source a file that exists but cannot be read is not a deleted file: its
// last valid version stays in force (noted), as for a file that turns invalid. Deleting it
// takes it out.
TEST_F(ManifestSourceTest, AFileThatTurnsUnreadableKeepsItsLastValidVersion) {
  Write("pod.yaml", kPod);
  Write("policy.yaml", kPolicy);
  ManifestSource src(dir_.string());
  ASSERT_THAT(src.Load().errors, IsEmpty());
  auto expect_kept = [&](const std::string& error) {
    LoadResult r = src.Load();
    EXPECT_THAT(ErrorLines(r, dir_), ElementsAre(absl::StrCat("policy.yaml: ", error)));
    EXPECT_EQ(r.state.policies.count("x/deny"), 1u) << error;
    EXPECT_THAT(absl::StrJoin(r.notes, "\n"), HasSubstr("policy.yaml: cannot be read; keeping"));
  };
  fs::remove(dir_ / "policy.yaml");
  ASSERT_EQ(mkfifo((dir_ / "policy.yaml").c_str(), 0644), 0);
  expect_kept("skipped: a FIFO, not a regular file");
  fs::remove(dir_ / "policy.yaml");
  fs::create_symlink("policy.yaml", dir_ / "policy.yaml");
  expect_kept("cannot follow this symlink: a symlink loop (too many levels of symbolic links)");
  fs::remove(dir_ / "policy.yaml");
  Write("policy.yaml", "");
  fs::resize_file(dir_ / "policy.yaml", kMaxManifestFileBytes + 1);
  expect_kept(absl::StrCat("skipped: ", kMaxManifestFileBytes + 1,
                           " bytes, more than a manifest file may hold (", kMaxManifestFileBytes,
                           ")"));
  fs::remove(dir_ / "policy.yaml");
  LoadResult r = src.Load();
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.state.policies.count("x/deny"), 0u);
}

// The same for every file below a directory that can no longer be listed.
TEST_F(ManifestSourceTest, FilesBelowAnUnlistableDirectoryKeepTheirLastValidVersion) {
  Write("pod.yaml", kPod);
  Write("sub/policy.yaml", kPolicy);
  ManifestSource src(dir_.string());
  ASSERT_THAT(src.Load().errors, IsEmpty());
  fs::permissions(dir_ / "sub", fs::perms::none);
  std::string why = AsUnprivileged([&]() -> std::string {
    LoadResult r = src.Load();
    std::vector<std::string> got = ErrorLines(r, dir_);
    if (got != std::vector<std::string>{"sub: cannot list: Permission denied"})
      return absl::StrCat("errors: ", absl::StrJoin(got, "; "));
    if (r.state.policies.count("x/deny") != 1) return "sub/policy.yaml was dropped";
    return "";
  });
  fs::permissions(dir_ / "sub", fs::perms::owner_all);
  EXPECT_EQ(why, "");
}

TEST(DerivedPodUid, StableAndUuidShaped) {
  std::string a = DerivedPodUid("x", "a");
  EXPECT_EQ(a, DerivedPodUid("x", "a"));
  EXPECT_NE(a, DerivedPodUid("x", "b"));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[13], '-');
  LoadResult r = LoadManifestTexts({{"p.yaml", kPod}});
  EXPECT_EQ(r.state.pods.at("x/a").uid, DerivedPodUid("x", "a"));
}

}  // namespace
}  // namespace warden::policy
