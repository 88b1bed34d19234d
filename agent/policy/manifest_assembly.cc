#include "agent/policy/manifest_assembly.h"

#include <algorithm>
#include <atomic>
#include <string_view>
#include <thread>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace warden::policy {
namespace {

ParsedFile ParseFile(const std::string& file, const std::string& content) {
  ParsedFile pf;
  pf.decoded = DecodeManifestFile(file, content);
  for (const auto& o : pf.decoded.objects) {
    pf.keys.push_back(ObjectKey(o));
    pf.kinds |= 1u << o.index();
  }
  return pf;
}

// Decodes the files `todo` names (indexes into `files`) into `out`, on as many threads as the
// machine has CPUs when there is enough to share: a cluster at Kubernetes' published scale is
// tens of megabytes of YAML (150,000 pods), most of its start-up, and files decode on their own.
void ParseFiles(const Texts& files, const std::vector<size_t>& todo, ParsedFiles* out) {
  size_t bytes = 0;
  for (size_t i : todo) bytes += files[i].second->size();
  const size_t threads = std::min<size_t>(
      {std::max(1u, std::thread::hardware_concurrency()), todo.size(), 1 + bytes / (1 << 20), 8});
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t t; (t = next.fetch_add(1)) < todo.size();) {
      const auto& [name, content] = files[todo[t]];
      (*out)[todo[t]] = std::make_shared<const ParsedFile>(ParseFile(name, *content));
    }
  };
  std::vector<std::thread> pool;
  for (size_t i = 1; i < threads; ++i) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// Each file decoded, or taken from `cache` when its content is the one decoded last time.
ParsedFiles ParseAll(const Texts& files, ParseCache* cache) {
  ParsedFiles parsed(files.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& [name, content] = files[i];
    if (cache) {
      auto it = cache->files.find(name);
      if (it != cache->files.end() &&
          (it->second.first == content || *it->second.first == *content))
        parsed[i] = it->second.second;
    }
    if (!parsed[i]) todo.push_back(i);
  }
  ParseFiles(files, todo, &parsed);
  if (cache) {
    std::map<std::string, std::pair<Text, std::shared_ptr<const ParsedFile>>> used;
    for (size_t i = 0; i < files.size(); ++i)
      used.emplace(files[i].first, std::pair(files[i].second, parsed[i]));
    cache->files = std::move(used);
  }
  return parsed;
}

// Object key -> the file defining it (index into the files) and where.
struct Definition {
  size_t file;
  const std::string* path;
  int line;
};
using Definitions = absl::flat_hash_map<std::string_view, Definition>;

// Enters the objects of file `f` into `defined`. If one is defined already, reports each such
// object, takes the file's keys out again and returns false.
bool DefineObjects(size_t f, const std::string& name, const ParsedFile& pf, Definitions* defined,
                   LoadResult* out) {
  bool duplicate = false;
  std::vector<std::string_view> added;
  added.reserve(pf.keys.size());
  for (size_t i = 0; i < pf.decoded.objects.size(); ++i) {
    const SourceRef& src = SourceOf(pf.decoded.objects[i]);
    auto [it, fresh] = defined->try_emplace(pf.keys[i], Definition{f, &src.file, src.line});
    if (fresh) {
      added.push_back(pf.keys[i]);
      continue;
    }
    std::string where = it->second.file == f ? std::string("earlier in this file")
                                             : absl::StrCat(*it->second.path, ":", it->second.line);
    out->errors.push_back(
        ManifestError{name, src.line, pf.keys[i], "metadata.name",
                      absl::StrCat("Duplicate value: already defined at ", where)});
    duplicate = true;
  }
  if (duplicate) {
    for (std::string_view k : added) defined->erase(k);
  }
  return !duplicate;
}

// Which files are committed, in order; their notes and errors go to `out`.
ParsedFiles CommittedFiles(const Texts& files, const ParsedFiles& parsed, LoadResult* out) {
  ParsedFiles committed;
  Definitions defined;
  size_t total = 0;
  for (const auto& pf : parsed) total += pf->keys.size();
  defined.reserve(total);
  for (size_t f = 0; f < parsed.size(); ++f) {
    const DecodedFile& d = parsed[f]->decoded;
    out->notes.insert(out->notes.end(), d.notes.begin(), d.notes.end());
    for (const auto& [kind, n] : d.ignored) out->ignored[kind] += n;
    if (!d.errors.empty()) {
      out->errors.insert(out->errors.end(), d.errors.begin(), d.errors.end());
      continue;
    }
    if (DefineObjects(f, files[f].first, *parsed[f], &defined, out)) committed.push_back(parsed[f]);
  }
  return committed;
}

template <typename T, typename... Ts>
constexpr size_t IndexIn(std::variant<Ts...>*) {
  size_t i = 0;
  (void)((std::is_same_v<T, Ts> ? false : (++i, true)) && ...);
  return i;
}

// Fills `member` of `state` with the objects of kind T from `committed`, or reuses the cached
// map of the last load if the same files made it.
template <typename T, typename Map>
void BuildKind(const ParsedFiles& committed, ParseCache* cache, Map ClusterState::*member,
               ClusterState* state) {
  constexpr size_t kIndex = IndexIn<T>(static_cast<DecodedObject*>(nullptr));
  ParsedFiles files;
  for (const auto& pf : committed) {
    if (pf->kinds & (1u << kIndex)) files.push_back(pf);
  }
  if (cache && cache->kind_files[kIndex] == files) {
    state->*member = cache->declared.*member;
    return;
  }
  typename std::decay_t<decltype((state->*member).get())> map;
  for (const auto& pf : files) {
    for (const auto& o : pf->decoded.objects) {
      if (const T* x = std::get_if<T>(&o)) {
        if constexpr (std::is_same_v<T, Namespace> || std::is_same_v<T, Node>)
          map.emplace(x->name, *x);
        else
          map.emplace(x->Key(), *x);
      }
    }
  }
  state->*member = std::move(map);
  if (cache) {
    cache->kind_files[kIndex] = std::move(files);
    cache->declared.*member = state->*member;
  }
}

}  // namespace

LoadResult LoadTexts(const Texts& files, ParseCache* cache) {
  LoadResult out;
  ParsedFiles parsed = ParseAll(files, cache);
  out.files_read = static_cast<int>(files.size());
  ParsedFiles committed = CommittedFiles(files, parsed, &out);
  BuildKind<Namespace>(committed, cache, &ClusterState::namespaces, &out.state);
  BuildKind<Node>(committed, cache, &ClusterState::nodes, &out.state);
  BuildKind<Pod>(committed, cache, &ClusterState::pods, &out.state);
  BuildKind<NetworkPolicy>(committed, cache, &ClusterState::policies, &out.state);
  BuildKind<ServiceEntry>(committed, cache, &ClusterState::service_entries, &out.state);
  BuildKind<DestinationRule>(committed, cache, &ClusterState::destination_rules, &out.state);
  BuildKind<AuthorizationPolicy>(committed, cache, &ClusterState::authorization_policies,
                                 &out.state);
  if (cache) out.state.AdoptIndexOf(cache->finalized);
  out.state.Finalize();
  if (cache) cache->finalized = out.state;
  for (const auto& [name, ns] : out.state.namespaces) {
    if (ns.implicit)
      out.notes.push_back(
          absl::StrCat("namespace ", name, " has no Namespace object; using only its name label"));
  }
  return out;
}

}  // namespace warden::policy
