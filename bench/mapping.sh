#!/usr/bin/env bash
# bench/mapping.sh — how long it takes to open a port: upnpmap against
# upnpc, natpmpc, goupnp, go-nat and go-nat-pmp, on a real miniupnpd 2.3.1
# (UPnP IGD:2, NAT-PMP, PCP) in the network-namespace lab of internal/netlab,
# in one run.
#
#   sudo bench/mapping.sh [-n RUNS] [-s SLOW_RUNS] [-o FILE]
#
#   -n RUNS       runs per variant (default 20), after one unrecorded warm-up
#                 round; the variants take turns (round-robin)
#   -s SLOW_RUNS  runs for the clients with multi-second fixed waits: upnpc,
#                 goupnp and go-nat (default 10; goupnp's WANIPConnection:1
#                 client, which finds nothing here, gets half of that)
#   -o FILE       also write the markdown table to FILE
#
# Measured from the LAN host lan1, each run a fresh process (or two), timed
# with bash's $EPOCHREALTIME around the process:
#   - the whole process that finds the gateway, adds one TCP mapping and
#     deletes it: `upnpmap add P --method upnp|natpmp|pcp|(default)` then
#     `upnpmap delete P` (cold: empty cache directory each run, so each `add`
#     also creates the directory and the state file; UPnP warm: cache kept, so
#     the description URL is known; PCP and NAT-PMP "state file present":
#     cache kept, as after a first use, which for these methods holds no
#     knowledge of the gateway; and PCP with that cache on /dev/shm, where
#     flushing the state file costs nothing), `upnpc -i -a` then
#     `upnpc -i -d`, `natpmpc -a P P tcp 3600` then `… 0`, and the programs
#     bench/peers (goupnp, go-nat, go-nat-pmp) and bench/firstmap (upnpmap's
#     library), which add and delete in one process;
#   - the in-process time to the first mapping those two programs print;
#   - the router's own request–reply time: one raw NAT-PMP or PCP MAP on a
#     connected UDP socket (bench/firstmap -router).
# Total run time with the defaults: about 4 minutes. On a busy machine run it
# as `sudo nice -n -10 bench/mapping.sh`: labctl and miniupnpd inherit the
# priority, so other work inflates the router's and the clients' times less.
#
# Network safety: every client runs inside the lab's LAN namespace (checked
# with `ip netns identify` before anything is sent); the lab's links exist
# only between its own namespaces. Needs root, Linux, go, and the Debian
# packages iproute2 nftables procps miniupnpd-nftables miniupnpc natpmpc.
set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME with a decimal point

# ---------------------------------------------------------------------------
# Inside the LAN namespace: the measurements. Started below as
# `ip netns exec $LAB_LAN1 bash bench/mapping.sh __inside`; writes
# $WORK/runs.tsv.

# timed OUT CMD...: runs CMD with its output in OUT; sets RC and US (wall
# time in microseconds).
timed() {
	local out=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	set +e
	"$@" >"$out" 2>&1
	RC=$?
	set -e
	t1=$EPOCHREALTIME
	US=$((${t1/./} - ${t0/./}))
}

# field NAME FILE: the value of NAME=… in the program's output line.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$2" | head -1; }

# One run of each kind. Each sets OK (1/0), WHOLE_US, ADD_US, INPROC_MS,
# NOTE (why it failed). P is the port, OUT a scratch file.

run_upnpmap() { # $1 = --method value or "auto"; cache in $CACHE
	local m=()
	[ "$1" = auto ] || m=(--method "$1")
	timed "$OUT" env XDG_CACHE_HOME="$CACHE" "$BIN/upnpmap" add "$P" "${m[@]}"
	ADD_US=$US WHOLE_US=$US INPROC_MS=""
	if [ $RC != 0 ]; then OK=0 NOTE=$(tail -1 "$OUT"); return; fi
	if [ "$1" != auto ] && ! grep -q " $1 " "$OUT"; then OK=0 NOTE="mapped with another method: $(tail -2 "$OUT" | head -1)"; return; fi
	timed "$OUT" env XDG_CACHE_HOME="$CACHE" "$BIN/upnpmap" delete "$P"
	WHOLE_US=$((WHOLE_US + US))
	if [ $RC != 0 ]; then OK=0 NOTE="delete: $(tail -1 "$OUT")"; return; fi
	OK=1
}

run_upnpc() {
	timed "$OUT" upnpc -i -a "$LAB_LAN1_ADDR" "$P" "$P" TCP
	ADD_US=$US WHOLE_US=$US INPROC_MS=""
	if [ $RC != 0 ] || ! grep -q "is redirected to internal" "$OUT"; then OK=0 NOTE=$(tail -1 "$OUT"); return; fi
	timed "$OUT" upnpc -i -d "$P" TCP
	WHOLE_US=$((WHOLE_US + US))
	if [ $RC != 0 ] || ! grep -q "UPNP_DeletePortMapping() returned : 0" "$OUT"; then OK=0 NOTE="delete: $(tail -1 "$OUT")"; return; fi
	OK=1
}

run_natpmpc() {
	timed "$OUT" natpmpc -a "$P" "$P" tcp 3600
	ADD_US=$US WHOLE_US=$US INPROC_MS=""
	if [ $RC != 0 ] || ! grep -q "Mapped public port $P protocol TCP" "$OUT"; then OK=0 NOTE=$(tail -1 "$OUT"); return; fi
	timed "$OUT" natpmpc -a "$P" "$P" tcp 0
	WHOLE_US=$((WHOLE_US + US))
	if [ $RC != 0 ] || ! grep -q "liftime 0" "$OUT"; then OK=0 NOTE="delete: $(tail -1 "$OUT")"; return; fi
	OK=1
}

run_prog() { # a program that maps and deletes in one process and prints first_mapping_ms
	timed "$OUT" "$@" -port "$P"
	WHOLE_US=$US ADD_US="" INPROC_MS=$(field first_mapping_ms "$OUT") PROBE_MS=$(field probe_ms "$OUT")
	if [ $RC != 0 ] || [ -z "$INPROC_MS" ]; then OK=0 NOTE=$(tail -1 "$OUT"); return; fi
	OK=1 NOTE=$(field method "$OUT")
}

# run_variant NAME: one run of variant NAME.
run_variant() {
	case $1 in
	upnpmap-upnp | upnpmap-upnp-warm) run_upnpmap upnp ;;
	upnpmap-natpmp | upnpmap-natpmp-used) run_upnpmap natpmp ;;
	upnpmap-pcp | upnpmap-pcp-used | upnpmap-pcp-mem) run_upnpmap pcp ;;
	upnpmap-auto) run_upnpmap auto ;;
	lib-upnp | lib-natpmp | lib-pcp | lib-auto) run_prog "$BIN/firstmap" -method "${1#lib-}" ;;
	router-natpmp | router-pcp) run_prog "$BIN/firstmap" -router "${1#router-}" ;;
	natpmpc) run_natpmpc ;;
	upnpc) run_upnpc ;;
	goupnp2 | goupnp1 | gonat | gonatpmp | gonatpmp-addr) run_prog "$BIN/peers" -lib "$1" ;;
	*) echo "mapping.sh: unknown variant $1" >&2; exit 1 ;;
	esac
}

# Variants that take milliseconds, and those with fixed waits of seconds.
FAST=(upnpmap-upnp upnpmap-upnp-warm upnpmap-natpmp upnpmap-natpmp-used upnpmap-pcp upnpmap-pcp-used upnpmap-pcp-mem upnpmap-auto
	lib-upnp lib-natpmp lib-pcp lib-auto router-natpmp router-pcp natpmpc gonatpmp gonatpmp-addr)
SLOWV=(upnpc goupnp2 goupnp1 gonat)

# one NAME ROUND: one run of NAME on its own port, recorded unless ROUND is
# 0 (the warm-up); a cold variant starts with an empty cache directory, a
# warm or "used" one keeps what the warm-up and its earlier runs left.
one() {
	local name=$1 round=$2
	P=${PORT[$name]} OUT=$WORK/out.$name CACHE=$WORK/cache.$name
	# The state file on a memory file system: what the disk's flushes cost.
	[ "$name" != upnpmap-pcp-mem ] || CACHE=$MEMDIR/cache
	case $name in *-warm | *-used) ;; *) rm -rf "$CACHE" ;; esac
	NOTE="" PROBE_MS=""
	run_variant "$name"
	if [ "$round" -ge 1 ]; then
		printf '%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$OK" "$WHOLE_US" "$ADD_US" "$INPROC_MS" "${NOTE//$'\t'/ }" "$PROBE_MS" >>"$WORK/runs.tsv"
	fi
	if [ "$OK" = 1 ]; then printf . >&2; else printf ' %s failed: %s ' "$name" "$NOTE" >&2; fi
}

inside() {
	local here
	here=$(ip netns identify $$)
	if [ -z "${LAB_LAN1:-}" ] || [ "$here" != "$LAB_LAN1" ]; then
		echo "mapping.sh: measurements must run in the lab's LAN namespace ${LAB_LAN1:-?}, not in '${here:-an unnamed one}'" >&2
		exit 1
	fi
	: >"$WORK/runs.tsv"
	declare -gA PORT
	local v i p=18100
	for v in "${FAST[@]}" "${SLOWV[@]}"; do PORT[$v]=$((++p)); done

	# Round-robin, so that a busy moment of the machine hits every variant
	# alike; round 0 is the warm-up (and fills the warm variants' caches).
	for ((i = 0; i <= RUNS; i++)); do
		printf 'round %2d/%d ' "$i" "$RUNS" >&2
		for v in "${FAST[@]}"; do one "$v" "$i"; done
		echo >&2
	done
	for ((i = 1; i <= SLOW; i++)); do
		printf 'slow round %2d/%d ' "$i" "$SLOW" >&2
		for v in "${SLOWV[@]}"; do
			# goupnp's WANIPConnection1 client finds nothing here: half the runs.
			[ "$v" = goupnp1 ] && [ "$i" -gt $(((SLOW + 1) / 2)) ] && continue
			one "$v" "$i"
		done
		echo >&2
	done

	# Every run deleted what it made: the router's table must be empty.
	upnpc -i -l >"$WORK/leftover" 2>&1 || true
	grep -E '^ *[0-9]+ (TCP|UDP) ' "$WORK/leftover" >"$WORK/leftover.entries" || true
}

if [ "${1:-}" = __inside ]; then
	inside
	exit 0
fi

# ---------------------------------------------------------------------------
# Outside: checks, builds, the lab, then the table.

RUNS=20 SLOW=10 OUTFILE=""
while getopts "n:s:o:" opt; do
	case $opt in
	n) RUNS=$OPTARG ;;
	s) SLOW=$OPTARG ;;
	o) OUTFILE=$OPTARG ;;
	*) echo "usage: $0 [-n RUNS] [-s SLOW_RUNS] [-o FILE]" >&2; exit 2 ;;
	esac
done
[[ $RUNS =~ ^[1-9][0-9]{0,2}$ && $SLOW =~ ^[1-9][0-9]{0,2}$ ]] || { echo "mapping.sh: -n and -s take 1..999" >&2; exit 2; }
[ "$(uname -s)" = Linux ] || { echo "mapping.sh: Linux only (network namespaces)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "mapping.sh: run as root (network namespaces, nftables)" >&2; exit 1; }
missing=()
for c in go ip nft sysctl miniupnpd upnpc natpmpc; do command -v "$c" >/dev/null || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
	echo "mapping.sh: missing ${missing[*]} (apt-get install iproute2 nftables procps miniupnpd-nftables miniupnpc natpmpc; Go 1.24+)" >&2
	exit 1
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SELF=$ROOT/bench/mapping.sh
WORK=$(mktemp -d /tmp/mapbench.XXXXXX)
# The memory-file-system variant's cache (a tmpfs where there is one).
MEMDIR=$WORK/mem
[ -d /dev/shm ] && MEMDIR=$(mktemp -d /dev/shm/mapbench.XXXXXX)
BIN=$WORK/bin
LABPID="" INNER=""
cleanup() {
	set +e
	trap '' PIPE INT TERM HUP # finish the teardown whatever happens to our output
	# The measurements; labctl would also kill whatever runs in the lab.
	[ -n "$INNER" ] && kill -TERM "$INNER" 2>/dev/null && wait "$INNER" 2>/dev/null
	if [ -n "$LABPID" ]; then
		if kill -0 "$LABPID" 2>/dev/null; then
			kill -TERM "$LABPID"
			# labctl tears the lab down and checks it is gone; give it 30 s.
			for _ in $(seq 300); do kill -0 "$LABPID" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$LABPID" 2>/dev/null && kill -KILL "$LABPID"
		fi
		wait "$LABPID" 2>/dev/null
		LABRC=$?
		cat "$WORK/labctl.log" >&2
		[ "$LABRC" = 0 ] || echo "mapping.sh: labctl exited with $LABRC" >&2
	fi
	# Whatever a crashed labctl left (namespaces of dead processes).
	[ -x "$BIN/labctl" ] && "$BIN/labctl" clean
	rm -rf "$WORK" "$MEMDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
trap 'exit 141' PIPE # stdout closed (`| head`): clean up all the same

echo "building (upnpmap, bench/firstmap, bench/labctl, bench/peers)" >&2
mkdir -p "$BIN"
# Static builds (CGO_ENABLED=0), as a release is built: upnpmap resolves no host names, and a binary
# without the dynamic loader starts about 3 ms sooner, which is most of a NAT-PMP round trip here.
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN/" ./cmd/upnpmap ./bench/firstmap ./bench/labctl)
(cd "$ROOT/bench/peers" && go build -o "$BIN/peers" .)

"$BIN/labctl" clean # debris of crashed runs
"$BIN/labctl" up -env "$WORK/lab.env" -log "$WORK/router.log" 2>"$WORK/labctl.log" &
LABPID=$!
for _ in $(seq 600); do # 60 s
	[ -f "$WORK/lab.env" ] && break
	kill -0 "$LABPID" 2>/dev/null || { echo "mapping.sh: labctl could not build the lab:" >&2; exit 1; }
	sleep 0.1
done
[ -f "$WORK/lab.env" ] || { echo "mapping.sh: the lab was not ready within 60 s" >&2; exit 1; }
# shellcheck disable=SC1091
. "$WORK/lab.env"

echo "measuring from $LAB_LAN1 ($LAB_LAN1_ADDR), router $LAB_GATEWAY (miniupnpd $(miniupnpd --version 2>&1 | head -1 | awk '{print $2}'))" >&2
START=$(date +%s)
# In the background, so that a signal reaches our trap at once (bash runs
# traps only between foreground commands; `wait` is interruptible).
ip netns exec "$LAB_LAN1" env WORK="$WORK" MEMDIR="$MEMDIR" BIN="$BIN" RUNS="$RUNS" SLOW="$SLOW" \
	LAB_LAN1="$LAB_LAN1" LAB_LAN1_ADDR="$LAB_LAN1_ADDR" bash "$SELF" __inside &
INNER=$!
wait "$INNER"
INNER=""
ELAPSED=$(($(date +%s) - START))

# ---------------------------------------------------------------------------
# The table: per variant, median and min–max of the successful runs, and the
# ratio to upnpmap's figure for the same method.

table() {
	awk -F'\t' -v runs="$RUNS" -v slow="$SLOW" '
	function fmt(v) { return v < 1 ? sprintf("%.2f", v) : v < 100 ? sprintf("%.1f", v) : sprintf("%.0f", v) }
	function ratio(a, b) { if (a == "" || b == "" || b == 0) return "—"; r = a / b; return r < 10 ? sprintf("%.2f×", r) : sprintf("%.0f×", r) }
	# stats(v, key): sets MED, LO, HI of the values in list[key] ("" when none)
	function stats(key,    n, i, j, a, t) {
		n = split(list[key], a, " ")
		MED = LO = HI = ""
		if (list[key] == "") return
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		LO = a[1] + 0; HI = a[n] + 0
		MED = n % 2 ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function cell(key) { stats(key); return MED == "" ? "—" : fmt(MED) " (" fmt(LO) "–" fmt(HI) ")" }
	function med(key) { stats(key); return MED }
	function lo(key) { stats(key); return LO }
	{
		v = $1; total[v]++
		if ($3 == 1) {
			ok[v]++
			list[v "/whole"] = list[v "/whole"] " " $4 / 1000
			if ($5 != "") list[v "/add"] = list[v "/add"] " " $5 / 1000
			if ($6 != "") list[v "/in"] = list[v "/in"] " " $6
			if ($7 != "") how[v] = $7
			if ($8 != "") list[v "/probe"] = list[v "/probe"] " " $8
		} else {
			list[v "/fail"] = list[v "/fail"] " " $4 / 1000
			if (why[v] == "") why[v] = $7
		}
	}
	function row(v, label, method, wref, iref,    w, a, i, runsCell) {
		if (!(v in total)) return
		runsCell = (ok[v] + 0) "/" total[v]
		if (ok[v] + 0 == 0) {
			printf "| %s | %s | %s | failed after %s ms: %s | | | | |\n", label, method, runsCell, cell(v "/fail"), why[v]
			return
		}
		w = cell(v "/whole"); a = cell(v "/add"); i = cell(v "/in")
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, method, runsCell, w, a, i,
			wref == "" ? "" : ratio(med(v "/whole"), med(wref "/whole")),
			iref == "" ? "" : ratio(med(v "/in"), med(iref "/in"))
	}
	END {
		print "| Client | Method | OK runs | Whole process: add + delete | `add` process alone | In-process to first mapping | × upnpmap whole | × upnpmap in-process |"
		print "|---|---|---|---|---|---|---|---|"
		row("upnpmap-upnp", "**upnpmap** CLI + library, cold", "UPnP", "upnpmap-upnp", "")
		row("upnpmap-upnp-warm", "upnpmap CLI, warm (cached description URL)", "UPnP", "upnpmap-upnp", "")
		row("lib-upnp", "upnpmap library (bench/firstmap), cold", "UPnP", "upnpmap-upnp", "lib-upnp")
		row("upnpc", "upnpc 2.2.4 (`-i -a`, `-i -d`)", "UPnP", "upnpmap-upnp", "")
		row("goupnp2", "goupnp 1.3.1 WANIPConnection2 client", "UPnP", "upnpmap-upnp", "lib-upnp")
		row("goupnp1", "goupnp 1.3.1 WANIPConnection1 client", "UPnP", "upnpmap-upnp", "lib-upnp")
		row("gonat", "go-nat 0.2.0 (chose " how["gonat"] ")", "UPnP", "upnpmap-upnp", "lib-upnp")
		row("upnpmap-natpmp", "**upnpmap** CLI, cold (creates its cache directory)", "NAT-PMP", "upnpmap-natpmp", "")
		row("upnpmap-natpmp-used", "upnpmap CLI, state file present", "NAT-PMP", "upnpmap-natpmp", "")
		row("lib-natpmp", "upnpmap library (bench/firstmap)", "NAT-PMP", "upnpmap-natpmp", "lib-natpmp")
		row("natpmpc", "natpmpc 20150609 (`-a P P tcp 3600`, then `0`)", "NAT-PMP", "upnpmap-natpmp", "")
		row("gonatpmp", "go-nat-pmp 1.1.0 (MAP only: no external address)", "NAT-PMP", "upnpmap-natpmp", "lib-natpmp")
		row("gonatpmp-addr", "go-nat-pmp 1.1.0, external address + MAP (what upnpmap reports)", "NAT-PMP", "upnpmap-natpmp", "lib-natpmp")
		row("router-natpmp", "router: one raw MAP request → reply", "NAT-PMP", "", "lib-natpmp")
		row("upnpmap-pcp", "**upnpmap** CLI, cold (creates its cache directory)", "PCP", "upnpmap-pcp", "")
		row("upnpmap-pcp-used", "upnpmap CLI, state file present", "PCP", "upnpmap-pcp", "")
		row("upnpmap-pcp-mem", "upnpmap CLI, state file present, on a memory file system", "PCP", "upnpmap-pcp", "")
		row("lib-pcp", "upnpmap library (bench/firstmap)", "PCP", "upnpmap-pcp", "lib-pcp")
		row("router-pcp", "router: one raw MAP request → reply", "PCP", "", "lib-pcp")
		row("upnpmap-auto", "**upnpmap** CLI, no --method", "auto (got " how["lib-auto"] ")", "upnpmap-auto", "")
		row("lib-auto", "upnpmap library, default methods", "auto (got " how["lib-auto"] ")", "upnpmap-auto", "lib-auto")
		print ""
		print "Times in ms, median (min–max) of the successful runs; ratios are medians divided by upnpmap'"'"'s for the same method"
		print "(> 1: slower than upnpmap). Whole process = wall time of the process(es) that find the gateway, add one TCP"
		print "mapping and delete it: two processes for the CLIs, one for the Go programs. In-process = from the start of"
		print "main to the granted mapping; for the router rows, the MAP request'"'"'s round trip alone."
		print ""
		print "Targets (medians; \"best runs\" divides the minima, which show the fixed cost when the router is quick):"
		printf "- UPnP, cold, in-process: goupnp %s, go-nat %s slower than upnpmap (targets ≥ 10×, ≥ 25×): %s, %s\n",
			ratio(med("goupnp2/in"), med("lib-upnp/in")), ratio(med("gonat/in"), med("lib-upnp/in")),
			(med("goupnp2/in") >= 10 * med("lib-upnp/in") ? "met" : "MISSED"), (med("gonat/in") >= 25 * med("lib-upnp/in") ? "met" : "MISSED")
		printf "- NAT-PMP in-process: upnpmap %s of the router'"'"'s MAP round trip (target ≤ 1.2×): %s; best runs %s\n",
			ratio(med("lib-natpmp/in"), med("router-natpmp/in")), (med("lib-natpmp/in") <= 1.2 * med("router-natpmp/in") ? "met" : "MISSED"),
			ratio(lo("lib-natpmp/in"), lo("router-natpmp/in"))
		printf "  (NAT-PMP reports the external address, which takes a request of its own before the MAP, one at a time per RFC 6886 §3.1: against the router'"'"'s address + MAP round trips, %s + %s ms, upnpmap is %s)\n",
			fmt(med("router-natpmp/probe")), fmt(med("router-natpmp/in")), ratio(med("lib-natpmp/in"), med("router-natpmp/probe") + med("router-natpmp/in"))
		printf "- NAT-PMP in-process against go-nat-pmp (target ≤ 1×): %s of go-nat-pmp doing the same two requests (external address, then MAP): %s; %s of its MAP alone, which cannot report the external address\n",
			ratio(med("lib-natpmp/in"), med("gonatpmp-addr/in")), (med("lib-natpmp/in") <= med("gonatpmp-addr/in") ? "met" : "MISSED"),
			ratio(med("lib-natpmp/in"), med("gonatpmp/in"))
		printf "- PCP in-process: upnpmap %s of the router'"'"'s MAP round trip (target ≤ 1.2×): %s; best runs %s\n",
			ratio(med("lib-pcp/in"), med("router-pcp/in")), (med("lib-pcp/in") <= 1.2 * med("router-pcp/in") ? "met" : "MISSED"),
			ratio(lo("lib-pcp/in"), lo("router-pcp/in"))
		printf "- Whole `add` process vs natpmpc'"'"'s: upnpmap NAT-PMP %s, PCP %s, default %s (target ≤ 1×): %s\n",
			ratio(med("upnpmap-natpmp/add"), med("natpmpc/add")), ratio(med("upnpmap-pcp/add"), med("natpmpc/add")),
			ratio(med("upnpmap-auto/add"), med("natpmpc/add")),
			(med("upnpmap-natpmp/add") <= med("natpmpc/add") && med("upnpmap-pcp/add") <= med("natpmpc/add") && med("upnpmap-auto/add") <= med("natpmpc/add") ? "met" : "MISSED")
		printf "- The same with the state file present (as after a first use): NAT-PMP %s, PCP %s (target ≤ 1×): %s\n",
			ratio(med("upnpmap-natpmp-used/add"), med("natpmpc/add")), ratio(med("upnpmap-pcp-used/add"), med("natpmpc/add")),
			(med("upnpmap-natpmp-used/add") <= med("natpmpc/add") && med("upnpmap-pcp-used/add") <= med("natpmpc/add") ? "met" : "MISSED")
		printf "- UPnP warm (cached description URL), whole `add` process: %s ms (target ≤ 30 ms): %s\n",
			fmt(med("upnpmap-upnp-warm/add")), (med("upnpmap-upnp-warm/add") <= 30 ? "met" : "MISSED")
	}' "$WORK/runs.tsv"
}

{
	NICE=$(nice)
	CMD="sudo bench/mapping.sh -n $RUNS -s $SLOW"
	[ "$NICE" = 0 ] || CMD="sudo nice -n $NICE bench/mapping.sh -n $RUNS -s $SLOW"
	echo "Measured $(date -u +%Y-%m-%d) with \`$CMD\` ($ELAPSED s): miniupnpd 2.3.1 (Debian, IGD:2, NAT-PMP, PCP) in the"
	echo "netns lab, client on a LAN host; $RUNS runs per variant after a warm-up run, $SLOW for upnpc, goupnp and go-nat"
	echo "(seconds of fixed waits per run), $(((SLOW + 1) / 2)) for goupnp's WANIPConnection1 client; variants take turns. $(nproc) CPUs,"
	echo "niceness $NICE, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo
	table
	if [ -s "$WORK/leftover.entries" ]; then
		echo
		echo "WARNING: mappings left on the router after the runs:"
		sed 's/^/    /' "$WORK/leftover.entries"
	fi
} >"$WORK/table.md"

cat "$WORK/table.md"
[ -z "$OUTFILE" ] || cp "$WORK/table.md" "$OUTFILE"
grep -q . "$WORK/runs.tsv" # something was measured
