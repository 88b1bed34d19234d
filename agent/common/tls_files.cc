#include "agent/common/tls_files.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/common/openssl_errors.h"
#include "agent/common/status_macros.h"

namespace warden::common {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;

Bio Reader(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

absl::Status Bad(const char* what, const std::string& path, const std::string& why) {
  std::string detail = OpenSslErrors();
  return absl::InvalidArgumentError(absl::StrCat(
      what, " ", path, ": ", why, detail.empty() ? "" : " (", detail, detail.empty() ? "" : ")"));
}

// The certificates in `text` (at least one), the first one returned.
absl::StatusOr<Cert> Certificates(const char* what, const std::string& path,
                                  const std::string& text) {
  Bio in = Reader(text);
  Cert first(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
  if (!first) return Bad(what, path, "no PEM certificate");
  while (true) {
    Cert more(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
    if (!more) break;
  }
  OpenSslErrors();  // the end of the file reads as an error: not one
  return first;
}

}  // namespace

absl::StatusOr<std::string> LoadCaPem(const std::string& ca) {
  WD_ASSIGN_OR_RETURN(std::string text, ReadFile(ca));
  WD_RETURN_IF_ERROR(Certificates("CA", ca, text).status());
  return text;
}

absl::StatusOr<TlsPem> LoadTlsPem(const std::string& cert, const std::string& key,
                                  const std::string& ca) {
  TlsPem out;
  WD_ASSIGN_OR_RETURN(out.cert, ReadFile(cert));
  WD_ASSIGN_OR_RETURN(out.key, ReadFile(key));
  WD_ASSIGN_OR_RETURN(out.ca, ReadFile(ca));
  WD_ASSIGN_OR_RETURN(Cert leaf, Certificates("certificate", cert, out.cert));
  WD_RETURN_IF_ERROR(Certificates("CA", ca, out.ca).status());
  Bio in = Reader(out.key);
  std::unique_ptr<EVP_PKEY, KeyFree> pkey(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  if (!pkey) return Bad("key", key, "no PEM private key");
  if (X509_check_private_key(leaf.get(), pkey.get()) != 1)
    return Bad("key", key, absl::StrCat("does not match the certificate ", cert));
  return out;
}

}  // namespace warden::common
