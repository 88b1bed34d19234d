#include "agent/kube/api_config.h"

#include <cstdlib>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/common/files.h"

namespace warden::kube {
namespace fs = std::filesystem;

namespace {

absl::StatusOr<std::string> ReadNonEmpty(const std::string& path, const std::string& what) {
  auto text = common::ReadFile(path);
  if (!text.ok())
    return absl::Status(text.status().code(), absl::StrCat(what, ": ", text.status().message()));
  if (text->empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", path, " is empty"));
  return text;
}

// The named entry of a kubeconfig list (clusters, users, contexts): its inner map.
absl::StatusOr<YAML::Node> Named(const YAML::Node& doc, const char* list, const char* inner,
                                 const std::string& name, const std::string& where) {
  const YAML::Node l = doc[list];
  if (l && l.IsSequence()) {
    for (const auto& e : l) {
      if (e.IsMap() && e["name"] && e["name"].IsScalar() && e["name"].Scalar() == name) {
        if (!e[inner] || !e[inner].IsMap())
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": ", list, " entry ", name, " has no ", inner, " map"));
        return e[inner];
      }
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": no ", list, " entry named ", name));
}

std::string Str(const YAML::Node& m, const char* key) {
  const YAML::Node v = m[key];
  return v && v.IsScalar() ? v.Scalar() : "";
}

// A PEM given inline (`KEY-data`, base64) or as a file (`KEY`, relative to the kubeconfig).
absl::StatusOr<std::string> Pem(const YAML::Node& m, const std::string& key, const fs::path& base,
                                const std::string& where) {
  std::string data = Str(m, (key + "-data").c_str());
  if (!data.empty()) {
    std::string out;
    if (!absl::Base64Unescape(data, &out) || out.empty())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", key, "-data is not base64"));
    return out;
  }
  std::string file = Str(m, key.c_str());
  if (file.empty()) return std::string();
  fs::path p = fs::path(file).is_absolute() ? fs::path(file) : base / file;
  return ReadNonEmpty(p.string(), absl::StrCat(where, ": ", key));
}

}  // namespace

absl::Status ParseServerUrl(const std::string& url, ApiServerConfig* cfg) {
  constexpr std::string_view kScheme = "https://";
  if (!std::string_view(url).starts_with(kScheme))
    return absl::InvalidArgumentError(
        absl::StrCat("server ", url, ": only https:// is accepted (the API carries the policy)"));
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  cfg->path_prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (cfg->path_prefix.ends_with('/')) cfg->path_prefix.pop_back();
  std::string port;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat("server ", url, ": unclosed [ in the host"));
    cfg->host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':')
        return absl::InvalidArgumentError(absl::StrCat("server ", url, ": bad host"));
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    cfg->host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  int n = 0;
  if (!port.empty() && (!absl::SimpleAtoi(port, &n) || n <= 0 || n > 65535))
    return absl::InvalidArgumentError(absl::StrCat("server ", url, ": bad port ", port));
  if (cfg->host.empty())
    return absl::InvalidArgumentError(absl::StrCat("server ", url, ": no host"));
  cfg->port = port.empty() ? "443" : port;
  return absl::OkStatus();
}

absl::StatusOr<ApiServerConfig> InClusterConfig(const std::string& secrets_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return absl::FailedPreconditionError(
        "--kubernetes: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in "
        "a pod? use --kubeconfig)");
  ApiServerConfig cfg;
  cfg.host = host;
  cfg.port = port;
  cfg.origin = "in-cluster service account";
  cfg.token_file = secrets_dir + "/token";
  if (auto t = ReadNonEmpty(cfg.token_file, "--kubernetes: the service account token"); !t.ok())
    return t.status();
  auto ca = ReadNonEmpty(secrets_dir + "/ca.crt", "--kubernetes: the cluster CA");
  if (!ca.ok()) return ca.status();
  cfg.ca_pem = std::move(*ca);
  return cfg;
}

absl::StatusOr<ApiServerConfig> KubeconfigConfig(const std::string& path,
                                                 const std::string& context) {
  std::string where = absl::StrCat("--kubeconfig ", path);
  auto text = ReadNonEmpty(path, where);
  if (!text.ok()) return text.status();
  YAML::Node doc;
  try {
    doc = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", e.what()));
  }
  if (!doc.IsMap()) return absl::InvalidArgumentError(absl::StrCat(where, ": not a map"));
  std::string ctx_name = context.empty() ? Str(doc, "current-context") : context;
  if (ctx_name.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no current-context (give --kube-context)"));
  auto ctx = Named(doc, "contexts", "context", ctx_name, where);
  if (!ctx.ok()) return ctx.status();
  where = absl::StrCat(where, ", context ", ctx_name);
  auto cluster = Named(doc, "clusters", "cluster", Str(*ctx, "cluster"), where);
  if (!cluster.ok()) return cluster.status();
  ApiServerConfig cfg;
  cfg.origin = where;
  fs::path base = fs::path(path).parent_path();
  if (auto st = ParseServerUrl(Str(*cluster, "server"), &cfg); !st.ok())
    return absl::InvalidArgumentError(absl::StrCat(where, ": cluster.", st.message()));
  if (Str(*cluster, "insecure-skip-tls-verify") == "true")
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": insecure-skip-tls-verify is refused (the API server's answers become policy)"));
  auto ca = Pem(*cluster, "certificate-authority", base, where);
  if (!ca.ok()) return ca.status();
  if (ca->empty())
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the cluster has no certificate-authority(-data)"));
  cfg.ca_pem = std::move(*ca);
  cfg.tls_server_name = Str(*cluster, "tls-server-name");
  std::string user_name = Str(*ctx, "user");
  if (user_name.empty()) return cfg;  // anonymous
  auto user = Named(doc, "users", "user", user_name, where);
  if (!user.ok()) return user.status();
  if ((*user)["exec"] || (*user)["auth-provider"])
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": user ", user_name,
        " authenticates through an exec or auth-provider plugin, which warden does not run; "
        "use a token, a token file or a client certificate"));
  cfg.token = Str(*user, "token");
  if (std::string tf = Str(*user, "tokenFile"); !tf.empty())
    cfg.token_file = fs::path(tf).is_absolute() ? tf : (base / tf).string();
  auto cert = Pem(*user, "client-certificate", base, where);
  if (!cert.ok()) return cert.status();
  auto key = Pem(*user, "client-key", base, where);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty())
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": user ", user_name, " has a client certificate without its key"));
  cfg.client_cert_pem = std::move(*cert);
  cfg.client_key_pem = std::move(*key);
  return cfg;
}

}  // namespace warden::kube
