#include "agent/lab/lab_pki.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab_shell.h"

namespace warden::lab {
namespace {

namespace fs = std::filesystem;

absl::Status MakeCa(const std::string& dir) {
  return Sh(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "
      "/CN=warden-lab-ca -keyout ",
      dir, "/ca-key.pem -out ", CaPath(dir));
}

absl::Status MakeCert(const std::string& dir, const LabCert& cert) {
  std::string base = absl::StrCat(dir, "/", cert.name);
  std::string sans = "DNS:" + cert.name;
  if (!cert.ip.empty()) absl::StrAppend(&sans, ",IP:", cert.ip);
  std::ofstream(base + ".ext") << "subjectAltName=" << sans
                               << "\nextendedKeyUsage=serverAuth,clientAuth\n";
  WD_RETURN_IF_ERROR(ShAll(
      {absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=",
                    cert.name, " -keyout ", KeyPath(dir, cert.name), " -out ", base, ".csr"),
       absl::StrCat("openssl x509 -req -in ", base, ".csr -CA ", CaPath(dir), " -CAkey ", dir,
                    "/ca-key.pem -CAcreateserial -days 30 -extfile ", base, ".ext -out ",
                    CertPath(dir, cert.name))}));
  std::error_code ec;
  fs::remove(base + ".csr", ec);
  fs::remove(base + ".ext", ec);
  return absl::OkStatus();
}

}  // namespace

absl::Status MakePki(const std::string& dir, const std::vector<LabCert>& certs) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  WD_RETURN_IF_ERROR(MakeCa(dir));
  for (const auto& cert : certs) WD_RETURN_IF_ERROR(MakeCert(dir, cert));
  return absl::OkStatus();
}

std::string CaPath(const std::string& dir) { return dir + "/ca.pem"; }
std::string CertPath(const std::string& dir, const std::string& name) {
  return absl::StrCat(dir, "/", name, ".pem");
}
std::string KeyPath(const std::string& dir, const std::string& name) {
  return absl::StrCat(dir, "/", name, "-key.pem");
}

}  // namespace warden::lab
