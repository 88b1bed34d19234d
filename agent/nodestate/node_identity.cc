#include "agent/nodestate/node_identity.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace warden::nodestate {

namespace {

constexpr std::string_view kNodeUserPrefix = "system:node:";
constexpr std::string_view kNodesGroup = "system:nodes";

std::string Text(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
}

// Every value of attribute `nid` in `name` (UTF-8).
std::vector<std::string> Values(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n >= 0) out.emplace_back(reinterpret_cast<const char*>(utf8), n);
    OPENSSL_free(utf8);
  }
  return out;
}

}  // namespace

std::vector<std::string> NodeNamesOf(X509* cert) {
  std::vector<std::string> out;
  if (!cert) return out;
  if (auto* names = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_DNS) out.push_back(Text(n->d.dNSName));
    }
    GENERAL_NAMES_free(names);
  }
  // A kubelet: in the nodes group, and named as a node (both, as NodeRestriction requires).
  X509_NAME* subject = X509_get_subject_name(cert);
  std::vector<std::string> orgs = Values(subject, NID_organizationName);
  std::vector<std::string> cns = Values(subject, NID_commonName);
  bool in_group = std::find(orgs.begin(), orgs.end(), kNodesGroup) != orgs.end();
  if (in_group && cns.size() == 1 && std::string_view(cns[0]).starts_with(kNodeUserPrefix) &&
      cns[0].size() > kNodeUserPrefix.size()) {
    out.push_back(cns[0].substr(kNodeUserPrefix.size()));
  }
  return out;
}

std::vector<std::string> NodeNamesOfPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return {};
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  std::vector<std::string> out = NodeNamesOf(cert);
  X509_free(cert);
  return out;
}

}  // namespace warden::nodestate
