#!/usr/bin/env bash
# Requests per hour that one mapping costs its router under normal renewal, per method (issue 21:
# the per-gateway governor must leave this unchanged). The figures come from BenchmarkRequestsPerHour
# in the root package, which runs against the fake router on loopback with a fake clock, so one run
# stands for hours of renewals; they are reported as the benchmark's "requests/hour" metric.
#
#   sudo bench/requests.sh        inside a network namespace with only loopback (as root)
#   bench/requests.sh             the same in an unprivileged namespace (unshare -rn)
set -euo pipefail
cd "$(dirname "$0")/.."
go mod download
run=(go test -run '^$' -bench RequestsPerHour -benchtime 3x .)
if [ "$(id -u)" = 0 ]; then
  ns="upnpmap-bench-$$"
  ip netns add "$ns"
  trap 'ip netns del "$ns"' EXIT
  ip -n "$ns" link set lo up
  ip netns exec "$ns" "${run[@]}"
else
  unshare -rn sh -c 'ip link set lo up && exec "$@"' sh "${run[@]}"
fi
