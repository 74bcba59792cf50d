#!/usr/bin/env bash
# The whole test suite, as CI runs it. Every test runs inside a network namespace that has only
# loopback, so that no test can send a packet to a real network even by mistake. The lab tests
# (internal/netlab/labtest) build their own namespaces with a real miniupnpd inside that one; they
# need root.
#
#   sudo ./test.sh            everything (Go may be outside root's PATH: the script finds it)
#   ./test.sh                 as a normal user: all but the lab, in an unprivileged namespace (unshare -rn)
#
# Stages, in this order: modules, lint (gofmt, go vet, staticcheck), unit (go test -race), lab,
# interop (the interop/ module: goupnp and go-nat-pmp against our fake router), adapters (the
# adapters/ module, if there is one), demo, release (scripts/release.sh for RELEASE_TARGETS, checksums
# verified), cross (go build ./... for the other systems). Every stage runs even when an earlier one
# failed; the script ends with one line per stage and "N passed, N failed", and exits 1 if any failed.
#
# Environment:
#   RELEASE_TARGETS   targets for the release stage (default "linux/amd64 linux/armv6"; "all" for the
#                     eight of scripts/release.sh)
#   CROSS_TARGETS     targets for go build ./... (default "darwin/arm64 windows/amd64 freebsd/amd64": each
#                     system's own code; linux/arm64 adds nothing to linux/amd64, and 32-bit ARM is built
#                     by the release stage)
#   STAGES            only these stages, e.g. STAGES="lint unit" (default: all)
#   CI=true           a stage that cannot run here (lab without root, no staticcheck) fails instead of
#                     being skipped
#
# Under sudo, the script runs Go with the invoking user's module and build caches (SUDO_USER's `go env
# GOMODCACHE GOCACHE`), downloads modules as that user, forbids downloads as root (GOPROXY=off), and at
# the end gives back to that user any file root created in those caches. So `sudo ./test.sh` after a
# normal build neither fetches nor rebuilds everything again, and leaves no root-owned file behind.
set -uo pipefail
# The script is one block, which bash reads whole before running it: editing test.sh while it runs
# cannot change (or break) the run in progress.
{
cd "$(dirname "$0")" || exit 1
start=$(date +%s)
is_root=false
[ "$(id -u)" = 0 ] && is_root=true
ci=false
[ "${CI:-}" = true ] && ci=true

# --- Finding go -------------------------------------------------------------------------------------

# find_go prints the path of a go command: from PATH, the usual install places, or (under sudo) the
# invoking user's login environment, where /usr/local/go/bin or ~/go/bin is usually added.
find_go() {
  local g home=
  if g=$(command -v go 2>/dev/null); then echo "$g"; return 0; fi
  if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
  fi
  for g in /usr/local/go/bin/go "$home/go/bin/go" "$home/.local/go/bin/go" "$home"/sdk/go*/bin/go \
    "${HOME:-/nonexistent}/go/bin/go" /usr/lib/go/bin/go /snap/bin/go; do
    [ -x "$g" ] && { echo "$g"; return 0; }
  done
  if [ -n "$home" ] && g=$(runuser -l "$SUDO_USER" -c 'command -v go' 2>/dev/null) && [ -x "$g" ]; then
    echo "$g"; return 0
  fi
  return 1
}

if ! GO=$(find_go); then
  echo "test.sh: no go command found (looked in PATH, /usr/local/go/bin, ~/go/bin, ~/sdk and ${SUDO_USER:-the sudo user}'s login PATH)." >&2
  echo "  Install Go 1.24 or newer (https://go.dev/dl/), or run: sudo env PATH=\"\$PATH\" ./test.sh" >&2
  exit 1
fi
# Tests run go themselves (the CLI tests build the binary), so it must be on PATH, with the tools
# installed next to it (staticcheck) and the system tools the lab needs (ip, nft, sysctl).
PATH="$(dirname "$GO"):$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
echo "go: $GO ($("$GO" version))"

# --- Caches under sudo ------------------------------------------------------------------------------

as_user=()        # prefix that runs a command as the invoking user, when there is one
shared_caches=()  # the user's cache directories this run writes into as root
if $is_root && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  # The user's environment as sudo's env_reset would give it, plus what reaching the module proxy
  # may need; root's own Go settings (below) must not leak into it.
  user_env=(env -i "HOME=$(getent passwd "$SUDO_USER" | cut -d: -f6)" "USER=$SUDO_USER" "LOGNAME=$SUDO_USER" "PATH=$PATH")
  for v in GOPROXY GOPRIVATE GONOPROXY GONOSUMDB GOSUMDB GOINSECURE GOTOOLCHAIN \
    http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && user_env+=("$v=${!v}")
  done
  if command -v runuser >/dev/null; then
    as_user=(runuser -u "$SUDO_USER" -- "${user_env[@]}")
  else
    as_user=(sudo -u "$SUDO_USER" -- "${user_env[@]}")
  fi
  if caches=$("${as_user[@]}" go env GOMODCACHE GOCACHE 2>/dev/null) && [ -n "$caches" ]; then
    GOMODCACHE=$(sed -n 1p <<<"$caches") GOCACHE=$(sed -n 2p <<<"$caches")
    # Root reads the user's module cache but never downloads into it: the modules stage downloads
    # as the user. Root does write build results into the user's build cache; give_back_caches
    # returns them to the user when the script ends.
    export GOMODCACHE GOCACHE GOPROXY=off
    # Made by the user, so that no directory above the caches becomes root's either.
    "${as_user[@]}" mkdir -p "$GOMODCACHE" "$GOCACHE"
    shared_caches=("$GOMODCACHE" "$GOCACHE")
    echo "caches: $SUDO_USER's ($GOMODCACHE, $GOCACHE)"
  else
    echo "caches: root's ($SUDO_USER's go env failed)"
    as_user=()
  fi
fi

# give_back_caches hands files root created in the user's caches back to the user, so that the user's
# own go commands can still write and clean them.
give_back_caches() {
  local d
  for d in "${shared_caches[@]}"; do
    [ -d "$d" ] && find "$d" -xdev -uid 0 -exec chown -h "$SUDO_USER": {} + 2>/dev/null
  done
  return 0
}

# --- Isolation --------------------------------------------------------------------------------------

netns="upnpmap-test-$$"

# Tests' temporary files (state files, fake routers' captures, lab logs) go to memory when /dev/shm
# is there: on a busy shared disk one fsync can wait seconds for everyone's writes (seen: a state
# file's fsync holding its lock for 10 s), which says nothing about upnpmap. The tests that check
# durability (the state file's atomic write, a SIGKILL mid-write) work the same on tmpfs.
test_tmp=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  test_tmp=$(mktemp -d /dev/shm/upnpmap-test.XXXXXX) || test_tmp=
fi

cleanup() {
  [ -e "/run/netns/$netns" ] && ip netns del "$netns"
  [ -n "$test_tmp" ] && rm -rf "$test_tmp"
  give_back_caches
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted"; exit 130' INT TERM

# run_isolated runs its arguments in a network namespace with only loopback up: as root a named one
# (made once, removed at exit), otherwise an unprivileged one (unshare -rn).
run_isolated() {
  if $is_root; then
    if [ ! -e "/run/netns/$netns" ]; then
      ip netns add "$netns" && ip -n "$netns" link set lo up || return 1
    fi
    TMPDIR="${test_tmp:-${TMPDIR:-/tmp}}" ip netns exec "$netns" "$@"
  else
    TMPDIR="${test_tmp:-${TMPDIR:-/tmp}}" unshare -rn sh -c 'ip link set lo up && exec "$@"' sh "$@"
  fi
}

# --- Stages -----------------------------------------------------------------------------------------

results=()
passed=0 failed=0 skipped=0

# stage NAME FUNCTION runs FUNCTION and records PASS, FAIL or SKIP (FUNCTION returns 77) with the time.
stage() {
  local name=$1 fn=$2 t0 rc
  if [ -n "${STAGES:-}" ] && ! grep -qw -- "$name" <<<"$STAGES"; then return; fi
  echo
  echo "== $name"
  t0=$(date +%s)
  "$fn"
  rc=$?
  local secs=$(( $(date +%s) - t0 ))
  if [ "$rc" = 0 ]; then
    results+=("$(printf 'PASS  %-9s %4d s' "$name" "$secs")"); passed=$((passed + 1))
  elif [ "$rc" = 77 ]; then
    results+=("$(printf 'SKIP  %-9s %4d s  (%s)' "$name" "$secs" "$skip_reason")"); skipped=$((skipped + 1))
  else
    results+=("$(printf 'FAIL  %-9s %4d s' "$name" "$secs")"); failed=$((failed + 1))
  fi
}

# skip records why a stage cannot run here; under CI=true that is a failure.
skip_reason=
skip() {
  skip_reason=$1
  echo "skipped: $1"
  if $ci; then echo "CI=true: this stage must run"; return 1; fi
  return 77
}

# modules are downloaded before any namespace is entered: the namespaces have no route to the
# registries. Under sudo the user downloads them, so the files in the cache stay the user's.
modules() {
  local fail=0 m
  for m in . interop adapters; do
    [ -f "$m/go.mod" ] || continue
    # as_user starts from a clean environment: the user's GOPROXY applies, not root's "off".
    (cd "$m" && "${as_user[@]}" go mod download) || fail=1
  done
  return $fail
}

lint() {
  local fail=0 bad m sc
  bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
  if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; fail=1; fi
  sc=$(command -v staticcheck || ls "$(go env GOPATH)/bin/staticcheck" 2>/dev/null || true)
  for m in . interop adapters; do
    [ -f "$m/go.mod" ] || continue
    echo "go vet ($m)"
    (cd "$m" && go vet ./...) || fail=1
    if [ -n "$sc" ]; then
      echo "staticcheck ($m)"
      (cd "$m" && "$sc" ./...) || fail=1
    fi
  done
  if [ -z "$sc" ]; then
    echo "staticcheck not found (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)"
    $ci && fail=1
  fi
  return $fail
}

unit() {
  local pkgs
  # The lab integration tests have their own stage, verbose, so that their timings show.
  pkgs=$(go list ./... | grep -v '/internal/netlab/labtest$') || return 1
  run_isolated go test -race -count=1 -timeout 15m $pkgs
}

lab() {
  $is_root || { skip "needs root: sudo ./test.sh"; return; }
  run_isolated go test -race -count=1 -timeout 10m -v ./internal/netlab/labtest/
}

module_tests() {
  [ -f "$1/go.mod" ] || { skip "no $1/ module"; return; }
  run_isolated sh -c "cd '$1' && go test -race -count=1 -timeout 10m ./..."
}
interop() { module_tests interop; }
adapters() {
  if [ ! -f adapters/go.mod ]; then skip_reason="no adapters/ module"; echo "$skip_reason"; return 77; fi
  module_tests adapters
}

demo() {
  local out want fail=0
  out=$(run_isolated go run ./cmd/upnpmap demo) || fail=1
  echo "$out"
  for want in discover add list delete; do
    # A here-string, not a pipe: under pipefail, grep -q quitting early fails the echo (SIGPIPE).
    grep -qi "$want" <<<"$out" || { echo "demo output lacks '$want'"; fail=1; }
  done
  return $fail
}

# release builds with scripts/release.sh into a temporary directory and checks what it made: the
# checksums verify, every binary is static and trimmed and for the system its name says, and the one
# for this machine runs.
release() {
  local dir fail=0 targets=${RELEASE_TARGETS:-linux/amd64 linux/armv6} f info goos arch out v=test-0.0.0
  [ "$targets" = all ] && targets=
  dir=$(mktemp -d) || return 1
  # shellcheck disable=SC2086 # the targets are words
  scripts/release.sh -o "$dir" -v "$v" $targets || { rm -rf "$dir"; return 1; }
  (cd "$dir" && sha256sum -c SHA256SUMS) || fail=1
  for f in "$dir"/upnpmap-*; do
    info=$(go version -m "$f") || { fail=1; continue; }
    arch=${f##*-} arch=${arch%.exe} goos=${f%-*} goos=${goos##*-}
    for want in "CGO_ENABLED=0" "-trimpath=true" "GOOS=$goos" "GOARCH=${arch%v[67]}"; do
      grep -q -- "	$want\$" <<<"$info" || { echo "$(basename "$f"): build info lacks $want"; fail=1; }
    done
    case $arch in armv6|armv7) grep -q "GOARM=${arch#armv}" <<<"$info" || { echo "$(basename "$f"): not GOARM=${arch#armv}"; fail=1; } ;; esac
  done
  f="$dir/upnpmap-$v-$(go env GOOS)-$(go env GOARCH)"
  if [ -x "$f" ]; then
    out=$("$f" version) || fail=1
    echo "$out"
    # The release version reaches `upnpmap version` once the CLI reads main.releaseVersion.
    if grep -q 'releaseVersion' cmd/upnpmap/*.go && ! grep -qF "$v" <<<"$out"; then
      echo "upnpmap version does not print the release version $v"; fail=1
    fi
  fi
  rm -rf "$dir"
  return $fail
}

cross() {
  local fail=0 t
  for t in ${CROSS_TARGETS:-darwin/arm64 windows/amd64 freebsd/amd64}; do
    if GOOS=${t%/*} GOARCH=${t#*/} go build ./...; then echo "$t ok"; else echo "$t FAILED"; fail=1; fi
  done
  return $fail
}

stage modules modules
stage lint lint
stage unit unit
stage lab lab
stage interop interop
stage adapters adapters
stage demo demo
stage release release
stage cross cross

echo
echo "== summary ($(( $(date +%s) - start )) s)"
printf '%s\n' "${results[@]}"
[ "$skipped" -gt 0 ] && echo "$skipped skipped"
echo "$passed passed, $failed failed"
exit $(( failed > 0 ))
}
