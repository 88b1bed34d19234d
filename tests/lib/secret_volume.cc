#include "tests/lib/secret_volume.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tests/lib/shell.h"

namespace warden::testlib {

namespace fs = std::filesystem;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> IssueCertificate(const CertificateRequest& r) {
  static int n = 0;
  const std::string base =
      absl::StrCat(fs::path(r.ca_cert).parent_path().string(), "/issued-", getpid(), "-", ++n);
  std::ofstream ext(base + ".ext");
  if (!r.dns_san.empty()) ext << "subjectAltName=DNS:" << r.dns_san << "\n";
  ext << "extendedKeyUsage=serverAuth,clientAuth\n";
  ext.close();
  ShellResult sh =
      Sh(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '",
                      r.subject, "' -keyout ", base, ".key -out ", base,
                      ".csr && openssl x509 -req -in ", base, ".csr -CA ", r.ca_cert, " -CAkey ",
                      r.ca_key, " -set_serial 0x", std::to_string(100000 + getpid() * 100 + n),
                      " -days 30 -extfile ", base, ".ext -out ", base, ".pem"));
  if (sh.code != 0) return absl::InternalError("openssl: " + sh.err);
  std::pair<std::string, std::string> out{Slurp(base + ".pem"), Slurp(base + ".key")};
  for (const char* e : {".ext", ".csr", ".pem", ".key"}) fs::remove(base + e);
  return out;
}

absl::StatusOr<std::pair<std::string, std::string>> IssueCertificate(const std::string& pki,
                                                                     const std::string& name) {
  return IssueCertificate(
      CertificateRequest{pki + "/ca.pem", pki + "/ca-key.pem", "/CN=" + name, name});
}

absl::Status IssueCertificateFiles(const CertificateRequest& r, const std::string& cert,
                                   const std::string& key) {
  auto issued = IssueCertificate(r);
  if (!issued.ok()) return issued.status();
  std::ofstream(cert) << issued->first;
  std::ofstream(key) << issued->second;
  return absl::OkStatus();
}

absl::StatusOr<SecretVolume> SecretVolume::Create(std::string dir, std::string pki,
                                                  std::string name) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": ", ec.message()));
  SecretVolume v(std::move(dir), std::move(pki), std::move(name));
  if (absl::Status st = v.Rotate(); !st.ok()) return st;
  for (const char* f : {"tls.crt", "tls.key", "ca.crt"}) {
    fs::create_symlink(absl::StrCat("..data/", f), absl::StrCat(v.dir_, "/", f), ec);
    if (ec) return absl::InternalError(absl::StrCat(v.dir_, "/", f, ": ", ec.message()));
  }
  return v;
}

absl::Status SecretVolume::Swap(const std::string& cert_pem, const std::string& key_pem) {
  const std::string version = absl::StrCat("..v", ++version_);
  const std::string at = absl::StrCat(dir_, "/", version);
  std::error_code ec;
  fs::create_directories(at, ec);
  if (ec) return absl::InternalError(absl::StrCat(at, ": ", ec.message()));
  std::ofstream(at + "/tls.crt") << cert_pem;
  std::ofstream(at + "/tls.key") << key_pem;
  std::ofstream(at + "/ca.crt") << Slurp(pki_ + "/ca.pem");
  // The kubelet's swap: a new symlink, renamed over ..data (atomic).
  const std::string tmp = dir_ + "/..data_tmp";
  fs::remove(tmp, ec);
  fs::create_symlink(version, tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat(tmp, ": ", ec.message()));
  if (rename(tmp.c_str(), (dir_ + "/..data").c_str()) != 0)
    return absl::InternalError(absl::StrCat("renaming ", tmp, " over ..data"));
  return absl::OkStatus();
}

absl::Status SecretVolume::Rotate() {
  absl::StatusOr<std::pair<std::string, std::string>> issued = IssueCertificate(pki_, name_);
  if (!issued.ok()) return issued.status();
  key_pem_ = issued->second;
  return Swap(issued->first, issued->second);
}

absl::Status SecretVolume::RotateToMismatchedKey() {
  absl::StatusOr<std::pair<std::string, std::string>> issued = IssueCertificate(pki_, name_);
  if (!issued.ok()) return issued.status();
  return Swap(issued->first, key_pem_);  // the key of the certificate before
}

absl::Status SecretVolume::RotateToGarbage() { return Swap("not a certificate\n", key_pem_); }

std::string SerialOfPem(const std::string& text) {
  BIO* in = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  X509* x = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (!x) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(x);
  return out;
}

}  // namespace warden::testlib
