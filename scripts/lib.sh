# Shared by the scripts: where the tree is, how to configure and build it.
# shellcheck shell=bash
WARDEN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CCACHE_BASEDIR="$WARDEN_ROOT"   # ccache hits across clones in other folders
export CCACHE_NOHASHDIR=1
JOBS=${WARDEN_JOBS:-2}

# warden_build DIR [cmake args...]: configure (once) and build everything in DIR.
warden_build() {
  local dir=$1
  shift
  cmake -S "$WARDEN_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}
