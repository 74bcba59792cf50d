#!/usr/bin/env bash
# The whole test suite, as CI runs it: format and vet checks, cross-builds, then every test inside a
# network namespace that has only loopback, so that no test can send a packet to a real network even by
# mistake. The lab tests (internal/netlab) build their own namespaces with miniupnpd inside it; they need
# root (CI has it) and are skipped with a message elsewhere.
#
#   sudo ./test.sh            everything
#   ./test.sh                 as a normal user: unit tests in an unprivileged namespace (unshare -rn), no lab
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)

echo "== modules (downloaded before entering the namespace, which has no route to the registries)"
go mod download
(cd interop && go mod download)

echo "== gofmt, vet, staticcheck"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go') 2>/dev/null || true)
if [ -n "$bad" ]; then echo "gofmt needed:"; echo "$bad"; exit 1; fi
go vet ./...
(cd interop && go vet ./...)
if command -v staticcheck >/dev/null 2>&1 || [ -x "$(go env GOPATH)/bin/staticcheck" ]; then
  PATH="$PATH:$(go env GOPATH)/bin" staticcheck ./...
fi

echo "== cross-builds"
for target in darwin/amd64 darwin/arm64 windows/amd64 freebsd/amd64 linux/arm64 linux/arm; do
  GOOS=${target%/*} GOARCH=${target#*/} go build ./... && echo "   $target ok"
done

# run_isolated runs its arguments in a fresh network namespace with only loopback up.
run_isolated() {
  if [ "$(id -u)" = 0 ]; then
    local ns="upnpmap-test-$$" rc=0
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" "$@" || rc=$?
    ip netns del "$ns"
    return "$rc"
  else
    unshare -rn sh -c 'ip link set lo up && exec "$@"' sh "$@"
  fi
}

echo "== tests (loopback-only namespace)"
# The lab integration tests run on their own below, verbose, so that their timings show.
pkgs=$(go list ./... | grep -v '/internal/netlab/labtest$')
run_isolated go test -race -count=1 -timeout 15m $pkgs

echo "== lab: miniupnpd in network namespaces (needs root; skipped with a reason otherwise, failed in CI)"
run_isolated go test -race -count=1 -timeout 10m -v ./internal/netlab/labtest/
run_isolated sh -c 'cd interop && go test -race -count=1 -timeout 10m ./...'

echo "== demo"
out=$(run_isolated go run ./cmd/upnpmap demo)
echo "$out"
for want in discover add list delete; do
  echo "$out" | grep -qi "$want" || { echo "demo output lacks '$want'"; exit 1; }
done

echo "== all checks passed in $(( $(date +%s) - start )) s"
