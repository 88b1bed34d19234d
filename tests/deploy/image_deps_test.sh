#!/usr/bin/env bash
# Every shared library the built `warden` loads (ldd, transitively) must come from a Debian package
# that deploy/image/runtime-deps lists: the image's runtime stage installs exactly that list.
#   tests/deploy/image_deps_test.sh BUILD/bin/warden [deploy/image/runtime-deps]
set -euo pipefail
binary=${1:?usage: $0 PATH/TO/warden [runtime-deps]}
deps=${2:-$(cd "$(dirname "$0")/../.." && pwd)/deploy/image/runtime-deps}
[ -x "$binary" ] || { echo "FAIL: $binary is not an executable (build it first)"; exit 1; }
listed=$(sh "$deps")

# The package owning a file. dpkg knows each file under the path it was installed at, which on a
# merged-/usr system may be the /lib or the /usr/lib spelling of the same file.
owner() {
  local f=$1 real
  real=$(readlink -f "$f")
  for p in "$f" "$real" "${real#/usr}" "/usr$f"; do
    if out=$(dpkg -S "$p" 2>/dev/null); then
      echo "${out%%:*}"
      return 0
    fi
  done
  return 1
}

fail=0
checked=0
while read -r lib path; do
  checked=$((checked + 1))
  if [ "$path" = "not-found" ]; then
    echo "FAIL: $lib: not found by the loader"; fail=1; continue
  fi
  if ! pkg=$(owner "$path"); then
    echo "FAIL: $lib ($path): no Debian package owns it"; fail=1; continue
  fi
  pkg=${pkg%%:*}  # drop an :amd64 architecture suffix
  if ! grep -qx "$pkg" <<<"$listed"; then
    echo "FAIL: $lib ($path) is in package $pkg, which deploy/image/runtime-deps does not list"
    fail=1
  fi
done < <(ldd "$binary" | awk '
  /=> not found/ { print $1, "not-found"; next }
  /=>/ && $3 ~ /^\// { print $1, $3; next }
  $1 ~ /^\// { print $1, $1 }')

if [ "$checked" -eq 0 ]; then echo "FAIL: ldd listed no library for $binary"; exit 1; fi
for base in libc6 libstdc++6 libgcc-s1; do
  grep -qx "$base" <<<"$listed" || { echo "FAIL: runtime-deps does not list $base"; fail=1; }
done
# The Containerfile's runtime stage installs the script's list (and nothing is listed twice there).
containerfile="$(dirname "$deps")/Containerfile"
grep -q 'apt-get install .*\$(sh /usr/local/share/warden/runtime-deps)' "$containerfile" ||
  { echo "FAIL: $containerfile: the runtime stage does not install \$(runtime-deps)"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok: $checked libraries of $binary, all from packages runtime-deps lists"
exit "$fail"
