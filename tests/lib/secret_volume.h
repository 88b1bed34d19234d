// TLS files as the kubelet mounts a Kubernetes Secret: DIR/tls.crt -> ..data/tls.crt (and
// tls.key, ca.crt), DIR/..data -> ..vN, a directory written whole. A change of the Secret is a
// new ..vN and an atomic swap of the ..data symlink (rename over it), which Rotate() does; so are
// the certificates, issued by the lab PKI's CA (lab::MakePki) with openssl.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace warden::testlib {

class SecretVolume {
 public:
  // A volume at `dir` (made) with a first key and certificate for `name` (CN and DNS SAN),
  // issued by the CA of the lab PKI at `pki`.
  static absl::StatusOr<SecretVolume> Create(std::string dir, std::string pki, std::string name);

  std::string cert() const { return dir_ + "/tls.crt"; }
  std::string key() const { return dir_ + "/tls.key"; }
  std::string ca() const { return dir_ + "/ca.crt"; }

  // A new key and certificate for the same name from the same CA (another serial), swapped in.
  absl::Status Rotate();
  // A version whose key is not the certificate's (a new certificate, the old key), swapped in.
  absl::Status RotateToMismatchedKey();
  // A version whose certificate is not PEM, swapped in.
  absl::Status RotateToGarbage();

 private:
  SecretVolume(std::string dir, std::string pki, std::string name)
      : dir_(std::move(dir)), pki_(std::move(pki)), name_(std::move(name)) {}
  // Writes ..v<next> with a certificate, key and CA and swaps ..data to it.
  absl::Status Swap(const std::string& cert_pem, const std::string& key_pem);

  std::string dir_, pki_, name_;
  int version_ = 0;
  std::string key_pem_;  // the newest key issued
};

// A new key and a certificate issued by `ca_cert`/`ca_key` with subject `subject`
// ("/O=system:nodes/CN=system:node:n1"), and DNS SAN `dns_san` unless empty: (cert, key) PEM.
struct CertificateRequest {
  std::string ca_cert, ca_key;
  std::string subject;
  std::string dns_san;
};
absl::StatusOr<std::pair<std::string, std::string>> IssueCertificate(const CertificateRequest& r);
// The same for `name` (CN and DNS SAN) from the CA of the lab PKI at `pki`.
absl::StatusOr<std::pair<std::string, std::string>> IssueCertificate(const std::string& pki,
                                                                     const std::string& name);
// Issues as IssueCertificate(r) and writes the certificate to `cert` and the key to `key`.
absl::Status IssueCertificateFiles(const CertificateRequest& r, const std::string& cert,
                                   const std::string& key);

// The serial number (hex) of the first certificate in PEM `text` ("" when there is none).
std::string SerialOfPem(const std::string& text);

}  // namespace warden::testlib
