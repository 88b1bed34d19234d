#include "agent/policy/k8s_decode_istio_security.h"

#include <algorithm>
#include <cctype>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/policy/istio_fields.h"
#include "agent/policy/k8s_decode_fields.h"

namespace warden::policy {
namespace {

// One list of a source or operation: its YAML key, the member it fills, and how its values are
// checked beyond "not empty".
template <typename T>
struct ListField {
  const char* key;
  Values T::*member;
  std::string (*check)(const std::string&);
};

// Istio's message names the list with a capital letter ("found in NotIpBlocks").
std::string Capitalized(const char* key) {
  std::string s = key;
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

template <typename T, size_t N>
bool ReadLists(ManifestReader* r, const YAML::Node& n, const std::string& f,
               const ListField<T> (&fields)[N], T* out) {
  bool any = false;
  for (const auto& lf : fields) {
    const std::string ff = f + "." + lf.key;
    out->*lf.member = ReadStringList(r, n, lf.key, ff);
    const Values& v = out->*lf.member;
    any |= !v.empty();
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].empty()) {
        r->Fail(n[lf.key][i], IndexField(ff, i),
                absl::StrCat("empty value not allowed, found in ", Capitalized(lf.key)));
      } else if (lf.check) {
        if (std::string why = lf.check(v[i]); !why.empty())
          r->Fail(n[lf.key][i], IndexField(ff, i), why);
      }
    }
  }
  return any;
}

// Istio's CheckServiceAccount: "sa" or "ns/sa", no wildcard, at most 320 characters.
std::string CheckServiceAccount(const std::string& v) {
  if (v.find('*') != std::string::npos) return "wildcard not allowed, found in ServiceAccounts";
  if (v.size() > 320) return "value cannot exceed 320 characters, found in ServiceAccounts";
  const size_t slashes = std::count(v.begin(), v.end(), '/');
  if (slashes > 1)
    return absl::StrCat("expected format 'serviceAccount' or 'namespace/serviceAccount', found \"",
                        v, "\" in ServiceAccounts");
  if (slashes == 1) {
    const size_t at = v.find('/');
    if (at == 0) return absl::StrCat("found empty namespace in \"", v, "\" in ServiceAccounts");
    if (at == v.size() - 1)
      return absl::StrCat("found empty serviceAccount in \"", v, "\" in ServiceAccounts");
  }
  return "";
}

// Istio's CheckValidPathTemplate: `{*}` and `{**}` as whole segments, `{**}` last among them,
// no other brace, and in a template path only URI-safe literal segments.
std::string CheckPath(const std::string& path) {
  const bool is_template =
      path.find("{*}") != std::string::npos || path.find("{**}") != std::string::npos;
  absl::string_view trimmed = path;
  while (absl::StartsWith(trimmed, "/")) trimmed.remove_prefix(1);
  while (absl::EndsWith(trimmed, "/")) trimmed.remove_suffix(1);
  bool seen_double = false;
  size_t start = 0;
  while (start <= trimmed.size()) {
    size_t end = trimmed.find('/', start);
    if (end == absl::string_view::npos) end = trimmed.size();
    const absl::string_view seg = trimmed.substr(start, end - start);
    const std::string where =
        absl::StrCat("invalid or unsupported path ", trimmed, ", found in Paths. ");
    if (seg == "{*}" || seg == "{**}") {
      if (seen_double) return where + "{**} is not the last operator";
      seen_double = seg == "{**}";
    } else if (seg.find_first_of("{}") != absl::string_view::npos) {
      return where + "Contains '{' or '}' beyond a supported path template";
    } else if (is_template) {
      static constexpr absl::string_view kSafe =
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()+,;:@=";
      if (seg.empty() || seg.find_first_not_of(kSafe) != absl::string_view::npos)
        return absl::StrCat(where, "Contains segment ", seg, " with invalid string literal");
    }
    start = end + 1;
  }
  return "";
}

std::string CheckNothing(const std::string&) { return ""; }

constexpr ListField<AuthzSource> kSourceFields[] = {
    {"principals", &AuthzSource::principals, nullptr},
    {"notPrincipals", &AuthzSource::not_principals, nullptr},
    {"requestPrincipals", &AuthzSource::request_principals, nullptr},
    {"notRequestPrincipals", &AuthzSource::not_request_principals, nullptr},
    {"namespaces", &AuthzSource::namespaces, nullptr},
    {"notNamespaces", &AuthzSource::not_namespaces, nullptr},
    {"ipBlocks", &AuthzSource::ip_blocks, CheckIpOrCidr},
    {"notIpBlocks", &AuthzSource::not_ip_blocks, CheckIpOrCidr},
    {"remoteIpBlocks", &AuthzSource::remote_ip_blocks, CheckIpOrCidr},
    {"notRemoteIpBlocks", &AuthzSource::not_remote_ip_blocks, CheckIpOrCidr},
    {"serviceAccounts", &AuthzSource::service_accounts, CheckServiceAccount},
    {"notServiceAccounts", &AuthzSource::not_service_accounts, CheckServiceAccount}};

constexpr ListField<AuthzOperation> kOperationFields[] = {
    {"hosts", &AuthzOperation::hosts, nullptr},
    {"notHosts", &AuthzOperation::not_hosts, nullptr},
    {"ports", &AuthzOperation::ports, CheckPortString},
    {"notPorts", &AuthzOperation::not_ports, CheckPortString},
    {"methods", &AuthzOperation::methods, nullptr},
    {"notMethods", &AuthzOperation::not_methods, nullptr},
    {"paths", &AuthzOperation::paths, CheckPath},
    {"notPaths", &AuthzOperation::not_paths, CheckPath}};

std::optional<AuthzSource> ReadSource(ManifestReader* r, const YAML::Node& n, const std::string& f,
                                      size_t rule) {
  if (!r->IsMapOrReport(n, f)) return std::nullopt;
  r->CheckKnownKeys(n, f, {"source"});
  const YAML::Node s = n["source"];
  if (!Present(s)) {
    r->Fail(n, f + ".source", absl::StrCat("`from.source` must not be nil, found at rule ", rule));
    return std::nullopt;
  }
  const std::string sf = f + ".source";
  if (!r->IsMapOrReport(s, sf)) return std::nullopt;
  r->CheckKnownKeys(s, sf,
                    {"principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals",
                     "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks",
                     "notRemoteIpBlocks", "serviceAccounts", "notServiceAccounts"});
  AuthzSource src;
  if (!ReadLists(r, s, sf, kSourceFields, &src))
    r->Fail(s, sf, absl::StrCat("`from.source` must not be empty, found at rule ", rule));
  if ((!src.service_accounts.empty() || !src.not_service_accounts.empty()) &&
      (!src.principals.empty() || !src.not_principals.empty() || !src.namespaces.empty() ||
       !src.not_namespaces.empty()))
    r->Fail(s, sf,
            absl::StrCat("cannot set serviceAccounts with namespaces or principals, found at rule ",
                         rule));
  if (src.service_accounts.size() > 16)
    r->Fail(s["serviceAccounts"], sf + ".serviceAccounts", "may not have more than 16 values");
  if (src.not_service_accounts.size() > 16)
    r->Fail(s["notServiceAccounts"], sf + ".notServiceAccounts",
            "may not have more than 16 values");
  // An egress gateway sees no end-user credential: a rule on one could never be decided.
  for (const char* k : {"requestPrincipals", "notRequestPrincipals"}) {
    if (Present(s[k]))
      r->Fail(s[k], sf + "." + k,
              "not supported by warden gateway: there is no request authentication (JWT) at "
              "egress");
  }
  return src;
}

std::optional<AuthzOperation> ReadOperation(ManifestReader* r, const YAML::Node& n,
                                            const std::string& f, size_t rule) {
  if (!r->IsMapOrReport(n, f)) return std::nullopt;
  r->CheckKnownKeys(n, f, {"operation"});
  const YAML::Node o = n["operation"];
  if (!Present(o)) {
    r->Fail(n, f + ".operation",
            absl::StrCat("`to.operation` must not be nil, found at rule ", rule));
    return std::nullopt;
  }
  const std::string of = f + ".operation";
  if (!r->IsMapOrReport(o, of)) return std::nullopt;
  r->CheckKnownKeys(
      o, of,
      {"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"});
  AuthzOperation op;
  if (!ReadLists(r, o, of, kOperationFields, &op))
    r->Fail(o, of, absl::StrCat("`to.operation` must not be empty, found at rule ", rule));
  return op;
}

// A condition key Istio knows, and how its values are checked; unsupported: a key an egress
// gateway cannot know (end-user credentials, Envoy filter metadata).
struct ConditionKey {
  bool known = false;
  std::string (*check)(const std::string&) = CheckNothing;
  std::string unsupported;
  std::string refused;  // Istio's own refusal of the key
};

bool MapKeyForm(const std::string& key) {
  const size_t open = key.find('[');
  return key.ends_with("]") && open != std::string::npos && open > 0 && open + 2 < key.size();
}

ConditionKey LookUpKey(const std::string& key) {
  ConditionKey k;
  k.known = true;
  if (key.starts_with("request.headers")) {
    if (!MapKeyForm(key)) k.refused = absl::StrCat("bad key (", key, "): should have format a[b]");
  } else if (key == "source.ip" || key == "remote.ip" || key == "destination.ip") {
    k.check = CheckIpOrCidr;
  } else if (key == "source.namespace" || key == "source.principal" || key == "connection.sni") {
  } else if (key == "source.serviceAccount") {
    k.check = CheckServiceAccount;
  } else if (key == "destination.port") {
    k.check = CheckPortString;
  } else if (key == "request.auth.principal" || key == "request.auth.audiences" ||
             key == "request.auth.presenter" || key.starts_with("request.auth.claims")) {
    if (key.starts_with("request.auth.claims") && !MapKeyForm(key))
      k.refused = absl::StrCat("bad key (", key, "): should have format a[b]");
    k.unsupported = "there is no request authentication (JWT) at egress";
  } else if (key.starts_with("experimental.envoy.filters.")) {
    if (!MapKeyForm(key)) k.refused = absl::StrCat("bad key (", key, "): should have format a[b]");
    k.unsupported = "warden gateway has no Envoy filter metadata";
  } else if (key == "destination.namespace") {
    k.refused = "attribute destination.namespace is replaced by the metadata.namespace";
  } else if (key.starts_with("destination.labels")) {
    k.refused = absl::StrCat("attribute ", key, " is replaced by the workload selector");
  } else if (key == "destination.name" || key == "destination.user") {
    k.refused = absl::StrCat("deprecated attribute ", key, ": only supported in v1alpha1");
  } else {
    k.known = false;
    k.refused = absl::StrCat("unknown attribute: ", key);
  }
  return k;
}

std::optional<AuthzCondition> ReadCondition(ManifestReader* r, const YAML::Node& n,
                                            const std::string& f) {
  if (!r->IsMapOrReport(n, f)) return std::nullopt;
  r->CheckKnownKeys(n, f, {"key", "values", "notValues"});
  AuthzCondition c;
  r->ReadString(n, "key", f + ".key", &c.key);
  c.values = ReadStringList(r, n, "values", f + ".values");
  c.not_values = ReadStringList(r, n, "notValues", f + ".notValues");
  if (c.key.empty()) {
    r->Fail(n, f + ".key", "`key` must not be empty");
    return std::nullopt;
  }
  if (c.values.empty() && c.not_values.empty())
    r->Fail(n, f,
            absl::StrCat("at least one of `values` or `notValues` must be set for key ", c.key));
  const ConditionKey key = LookUpKey(c.key);
  for (const auto& [list, yaml_key, word] : {std::tuple{&c.values, "values", "value"},
                                             std::tuple{&c.not_values, "notValues", "notValue"}}) {
    const std::string lf = absl::StrCat(f, ".", yaml_key);
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string& v = (*list)[i];
      std::string why = v.empty() ? absl::StrCat("empty value not allowed, found in ", c.key)
                        : key.refused.empty() ? key.check(v)
                                              : "";
      if (!why.empty())
        r->Fail(n[yaml_key][i], IndexField(lf, i),
                absl::StrCat("invalid `", word, "` for `key` ", c.key, ": ", why));
    }
  }
  if (!key.refused.empty()) r->Fail(n["key"], f + ".key", key.refused);
  if (!key.unsupported.empty())
    r->Fail(n["key"], f + ".key",
            absl::StrCat("not supported by warden gateway: ", key.unsupported));
  return c;
}

template <typename T, typename Read>
std::vector<T> ReadList(ManifestReader* r, const YAML::Node& n, const char* key,
                        const std::string& f, const Read& read) {
  std::vector<T> out;
  const YAML::Node list = n[key];
  const std::string lf = f + "." + key;
  if (!r->OptionalList(list, lf)) return out;
  for (size_t i = 0; i < list.size(); ++i) {
    if (auto x = read(list[i], IndexField(lf, i))) out.push_back(std::move(*x));
  }
  return out;
}

AuthzRule ReadRule(ManifestReader* r, const YAML::Node& n, const std::string& f, size_t i) {
  AuthzRule rule;
  if (!Present(n)) {
    r->Fail(n, f, absl::StrCat("`rule` must not be nil, found at rule ", i));
    return rule;
  }
  if (!r->IsMapOrReport(n, f)) return rule;
  r->CheckKnownKeys(n, f, {"from", "to", "when"});
  rule.from = ReadList<AuthzSource>(
      r, n, "from", f,
      [&](const YAML::Node& x, const std::string& xf) { return ReadSource(r, x, xf, i); });
  rule.to = ReadList<AuthzOperation>(
      r, n, "to", f,
      [&](const YAML::Node& x, const std::string& xf) { return ReadOperation(r, x, xf, i); });
  rule.when = ReadList<AuthzCondition>(
      r, n, "when", f,
      [&](const YAML::Node& x, const std::string& xf) { return ReadCondition(r, x, xf); });
  return rule;
}

std::vector<PolicyTargetRef> ReadTargetRefs(ManifestReader* r, const YAML::Node& spec,
                                            const std::string& sf) {
  std::vector<PolicyTargetRef> refs;
  auto read = [&](const YAML::Node& n, const std::string& f) {
    if (!r->IsMapOrReport(n, f)) return;
    r->CheckKnownKeys(n, f, {"group", "kind", "name", "namespace"});
    PolicyTargetRef ref;
    r->ReadString(n, "group", f + ".group", &ref.group);
    r->ReadString(n, "kind", f + ".kind", &ref.kind);
    r->ReadString(n, "name", f + ".name", &ref.name);
    r->ReadString(n, "namespace", f + ".namespace", &ref.ns);
    if (ref.name.empty()) r->Fail(n, f + ".name", "targetRef name must be set");
    if (!ref.ns.empty())
      r->Fail(n["namespace"], f + ".namespace",
              "targetRef namespace must not be set; cross namespace referencing is not supported");
    static const std::pair<const char*, const char*> kAllowed[] = {
        {"", "Service"},
        {"gateway.networking.k8s.io", "Gateway"},
        {"networking.istio.io", "ServiceEntry"},
        {"gateway.networking.k8s.io", "GatewayClass"}};
    bool allowed = false;
    for (const auto& [g, k] : kAllowed)
      allowed |= (ref.group == g || (ref.group == "core" && !*g)) && ref.kind == k;
    if (!allowed)
      r->Fail(
          n, f,
          absl::StrCat("targetRef must be to one of [/core/Service "
                       "gateway.networking.k8s.io/v1/Gateway networking.istio.io/v1/ServiceEntry "
                       "gateway.networking.k8s.io/v1/GatewayClass] but was ",
                       ref.group, "/", ref.kind));
    refs.push_back(std::move(ref));
  };
  const YAML::Node one = spec["targetRef"];
  if (r->OptionalMap(one, sf + ".targetRef")) read(one, sf + ".targetRef");
  const YAML::Node many = spec["targetRefs"];
  const std::string mf = sf + ".targetRefs";
  if (r->OptionalList(many, mf)) {
    if (many.size() > 16) r->Fail(many, mf, "must have at most 16 items");
    for (size_t i = 0; i < many.size(); ++i) read(many[i], IndexField(mf, i));
  }
  return refs;
}

// Istio's checkDryRunAnnotation: Go's strconv.ParseBool, on ALLOW and DENY only.
void ReadDryRun(ManifestReader* r, const YAML::Node& doc, const ObjectMeta& m,
                AuthorizationPolicy* ap) {
  auto it = m.annotations.find("istio.io/dry-run");
  if (it == m.annotations.end()) return;
  const YAML::Node at = doc["metadata"]["annotations"];
  const std::string f = r->Field("metadata.annotations.istio.io/dry-run");
  if (ap->action != AuthzAction::kAllow && ap->action != AuthzAction::kDeny) {
    r->Fail(at, f,
            absl::StrCat("the annotation istio.io/dry-run currently only supports action "
                         "ALLOW/DENY, found action ",
                         AuthzActionName(ap->action), " in ", m.ns, "/", m.name));
    return;
  }
  const std::string& v = it->second;
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (v == t) ap->dry_run = true;
  }
  bool is_false = false;
  for (const char* t : {"0", "f", "F", "FALSE", "false", "False"}) is_false |= v == t;
  if (!ap->dry_run && !is_false)
    r->Fail(at, f,
            absl::StrCat(m.ns, "/", m.name, " has annotation istio.io/dry-run with invalid value (",
                         v, "): not a boolean"));
}

// Istio's warning for a DENY rule of HTTP attributes only: on TCP traffic such a rule denies
// everything.
bool DenyMatchesAllTcp(const AuthzRule& rule) {
  bool tcp_from = false, tcp_to = false;
  for (const auto& s : rule.from)
    tcp_from |= !s.principals.empty() || !s.not_principals.empty() || !s.ip_blocks.empty() ||
                !s.not_ip_blocks.empty() || !s.namespaces.empty() || !s.not_namespaces.empty() ||
                !s.remote_ip_blocks.empty() || !s.not_remote_ip_blocks.empty() ||
                !s.service_accounts.empty() || !s.not_service_accounts.empty();
  for (const auto& o : rule.to) tcp_to |= !o.ports.empty() || !o.not_ports.empty();
  return (!rule.from.empty() && rule.to.empty() && !tcp_from) || (!rule.to.empty() && !tcp_to);
}

void ReadAuthzSpec(ManifestReader* r, const YAML::Node& doc, AuthorizationPolicy* ap,
                   std::vector<std::string>* notes) {
  const YAML::Node spec = doc["spec"];
  const std::string sf = r->Field("spec");
  if (Present(spec) && !r->IsMapOrReport(spec, sf)) return;
  const YAML::Node s = Present(spec) ? spec : YAML::Node(YAML::NodeType::Map);
  r->CheckKnownKeys(s, sf, {"selector", "targetRef", "targetRefs", "action", "provider", "rules"});
  ap->selector = ReadWorkloadSelector(r, s, "selector", sf + ".selector");
  if (ap->selector && ap->selector->match_labels.empty())
    notes->push_back(absl::StrCat(r->file(), ":", r->Line(s["selector"]), ": ", sf,
                                  ".selector: workload selector specified without labels"));
  ap->target_refs = ReadTargetRefs(r, s, sf);
  const int set = (ap->selector ? 1 : 0) + (Present(s["targetRef"]) ? 1 : 0) +
                  (Present(s["targetRefs"]) && s["targetRefs"].size() > 0 ? 1 : 0);
  if (set > 1) r->Fail(s, sf, "only one of targetRefs or workloadSelector can be set");
  static const std::vector<const char*> kActions = {"ALLOW", "DENY", "AUDIT", "CUSTOM"};
  if (auto i = ReadEnum(r, s, "action", sf + ".action", kActions))
    ap->action = static_cast<AuthzAction>(*i);
  const YAML::Node provider = s["provider"];
  if (r->OptionalMap(provider, sf + ".provider")) {
    r->CheckKnownKeys(provider, sf + ".provider", {"name"});
    r->ReadString(provider, "name", sf + ".provider.name", &ap->provider);
  }
  const YAML::Node rules = s["rules"];
  const bool rules_given = Present(rules) && rules.IsSequence() && rules.size() > 0;
  if (ap->action == AuthzAction::kCustom) {
    if (!rules_given)
      r->Fail(s, sf + ".rules",
              "CUSTOM action without `rules` is meaningless as it will never be triggered, add "
              "an empty rule `{}` if you want it be triggered for every request");
    else if (ap->provider.empty())
      r->Fail(s, sf + ".provider.name", "`provider.name` must not be empty");
    r->Fail(s["action"], sf + ".action",
            "CUSTOM is not supported by warden gateway: it has no external authorizer");
  } else if (Present(provider)) {
    r->Fail(provider, sf + ".provider",
            absl::StrCat("`provider` must not be with non CUSTOM action, found ",
                         AuthzActionName(ap->action)));
  }
  if (ap->action == AuthzAction::kDeny && !rules_given)
    r->Fail(s, sf + ".rules",
            "DENY action without `rules` is meaningless as it will never be triggered, add an "
            "empty rule `{}` if you want it be triggered for every request");
  const std::string rf = sf + ".rules";
  if (!r->OptionalList(rules, rf)) return;
  for (size_t i = 0; i < rules.size(); ++i) {
    ap->rules.push_back(ReadRule(r, rules[i], IndexField(rf, i), i));
    if (ap->action == AuthzAction::kDeny && DenyMatchesAllTcp(ap->rules.back()))
      notes->push_back(absl::StrCat(
          r->file(), ":", r->Line(rules[i]), ": ", IndexField(rf, i),
          ": configured AuthorizationPolicy will deny all traffic to TCP ports under its scope "
          "due to the use of only HTTP attributes in a DENY rule; it is recommended to "
          "explicitly specify the port"));
  }
}

}  // namespace

std::optional<AuthorizationPolicy> DecodeAuthorizationPolicy(ManifestReader* r,
                                                             const YAML::Node& doc,
                                                             std::vector<std::string>* notes) {
  auto fill = [&](const ObjectMeta& m, AuthorizationPolicy* ap) {
    ap->ns = m.ns;
    ap->name = m.name;
    ReadAuthzSpec(r, doc, ap, notes);
    ReadDryRun(r, doc, m, ap);
  };
  return DecodeObject<AuthorizationPolicy>(r, doc, "AuthorizationPolicy", true, fill);
}

}  // namespace warden::policy
