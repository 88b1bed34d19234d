// Immutable values shared between versions of a state, copied only when one version changes
// them. A control plane keeps several versions of large maps (10,000 pods, tens of thousands of
// policy entries) that mostly do not change from one version to the next: sharing makes a new
// version cost what changed, and comparing two versions skip every part they share.
#pragma once

#include <memory>
#include <utility>

namespace warden::common {

// The value is reached only through const access, except by Mut(), which first makes it this
// Shared's own: what another holder sees never changes.
template <typename T>
class Shared {
 public:
  Shared() : p_(std::make_shared<T>()) {}
  explicit Shared(T v) : p_(std::make_shared<T>(std::move(v))) {}
  const T& operator*() const { return *p_; }
  const T* operator->() const { return p_.get(); }
  // A private copy to change (none is made when nothing else holds this value).
  T& Mut() {
    if (p_.use_count() != 1) p_ = std::make_shared<T>(std::as_const(*p_));
    return *p_;
  }
  bool SameObject(const Shared& o) const { return p_ == o.p_; }
  bool operator==(const Shared& o) const { return p_ == o.p_ || *p_ == *o.p_; }
  // Keeps the value alive (and shared, so that a later Mut() copies it): for indexes that
  // point into it. Compares equal to the pin of the same value.
  std::shared_ptr<const T> Pin() const { return p_; }

 private:
  std::shared_ptr<T> p_;
};

// A map (std::map, absl::btree_map, ...) with the read interface of the map itself and writes
// that copy it first when another version holds it, so code reading it needs no change.
// Iterators and references into a SharedMap stay valid while it is not written to.
template <typename M>
class SharedMap {
 public:
  using key_type = typename M::key_type;
  using mapped_type = typename M::mapped_type;
  using value_type = typename M::value_type;
  using size_type = typename M::size_type;
  using const_iterator = typename M::const_iterator;
  using iterator = const_iterator;

  SharedMap() = default;
  SharedMap(M m) : v_(std::move(m)) {}  // NOLINT: a map converts implicitly
  SharedMap(std::initializer_list<value_type> init) : v_(M(init)) {}

  const M& get() const { return *v_; }
  operator const M&() const { return *v_; }  // NOLINT: reads pass it where a map is wanted
  const_iterator begin() const { return v_->begin(); }
  const_iterator end() const { return v_->end(); }
  size_type size() const { return v_->size(); }
  bool empty() const { return v_->empty(); }
  template <typename K>
  const_iterator find(const K& k) const {
    return v_->find(k);
  }
  template <typename K>
  size_type count(const K& k) const {
    return v_->count(k);
  }
  template <typename K>
  bool contains(const K& k) const {
    return v_->find(k) != v_->end();
  }
  template <typename K>
  const mapped_type& at(const K& k) const {
    return v_->at(k);
  }

  // Writes: the map is copied first if another version shares it.
  M& Mut() { return v_.Mut(); }
  mapped_type& operator[](const key_type& k) { return Mut()[k]; }
  template <typename... A>
  auto emplace(A&&... a) {
    return Mut().emplace(std::forward<A>(a)...);
  }
  template <typename... A>
  auto try_emplace(A&&... a) {
    return Mut().try_emplace(std::forward<A>(a)...);
  }
  template <typename... A>
  auto insert(A&&... a) {
    return Mut().insert(std::forward<A>(a)...);
  }
  size_type erase(const key_type& k) { return Mut().erase(k); }
  void clear() { *this = SharedMap(); }

  bool SameObject(const SharedMap& o) const { return v_.SameObject(o.v_); }
  bool operator==(const SharedMap& o) const { return v_ == o.v_; }
  std::shared_ptr<const M> Pin() const { return v_.Pin(); }

 private:
  Shared<M> v_;
};

}  // namespace warden::common
