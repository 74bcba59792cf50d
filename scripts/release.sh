#!/usr/bin/env bash
# scripts/release.sh — release binaries of the upnpmap CLI, with checksums.
#
#   scripts/release.sh [-o DIR] [-v VERSION] [TARGET...]
#
#   -o DIR      output directory (default dist/, which git ignores); earlier
#               upnpmap-* files and SHA256SUMS in it are removed first
#   -v VERSION  version to stamp and put in the file names (default: `git
#               describe --tags --always --dirty`, or "devel" outside git)
#   TARGET      os/arch, with armv6 and armv7 for 32-bit ARM (GOARM); default
#               all of: linux/amd64 linux/arm64 linux/armv6 linux/armv7
#               darwin/amd64 darwin/arm64 windows/amd64 freebsd/amd64
#
# Each binary is static (CGO_ENABLED=0: upnpmap resolves no host names, so it
# loses nothing without cgo), built with -trimpath (no build paths inside, so
# two builds of one commit are byte-identical) and -ldflags "-s -w" (no
# symbol tables: a third smaller) plus "-X main.releaseVersion=VERSION".
# DIR/SHA256SUMS lists every binary; check a download with
# `sha256sum -c --ignore-missing SHA256SUMS`.
#
# A script and not goreleaser: the job is a loop over go build, which needs
# nothing but Go; goreleaser would be a second tool to install and pin (it is
# not packaged where CI runs), and its archives, changelogs and publishing are
# not wanted yet.
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
version=
while getopts "o:v:h" opt; do
  case $opt in
    o) out=$OPTARG ;;
    v) version=$OPTARG ;;
    *) sed -n '2,/^set -e/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(linux/amd64 linux/arm64 linux/armv6 linux/armv7 darwin/amd64 darwin/arm64 windows/amd64 freebsd/amd64)
fi
if [ -z "$version" ]; then
  version=$(git describe --tags --always --dirty 2>/dev/null || echo devel)
fi
case $version in
  *[!A-Za-z0-9._+-]*) echo "release.sh: version '$version' has characters unfit for a file name" >&2; exit 2 ;;
esac

if command -v sha256sum >/dev/null; then
  sum() { sha256sum "$@"; }
elif command -v shasum >/dev/null; then
  sum() { shasum -a 256 "$@"; }
else
  echo "release.sh: needs sha256sum (coreutils) or shasum" >&2; exit 1
fi

mkdir -p "$out"
rm -f "$out"/upnpmap-* "$out/SHA256SUMS"
names=()
for target in "${targets[@]}"; do
  goos=${target%/*} arch=${target#*/} goarm=
  case $arch in
    armv6) goarch=arm goarm=6 ;;
    armv7) goarch=arm goarm=7 ;;
    arm) echo "release.sh: say armv6 or armv7, not arm" >&2; exit 2 ;;
    *) goarch=$arch ;;
  esac
  name=upnpmap-$version-$goos-$arch
  [ "$goos" = windows ] && name=$name.exe
  echo "building $name"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOARM=$goarm \
    go build -trimpath -ldflags "-s -w -X main.releaseVersion=$version" -o "$out/$name" ./cmd/upnpmap
  names+=("$name")
done
(cd "$out" && sum "${names[@]}" > SHA256SUMS)
echo "wrote ${#names[@]} binaries and SHA256SUMS to $out/"
