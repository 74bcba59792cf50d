#!/usr/bin/env bash
# bench/relay.sh — compare upnpmap's relay with socat, rinetd and
# systemd-socket-proxyd (and the direct path) in one run.
#
# Needs root on Linux. Installs socat, rinetd, iperf3 and systemd with apt-get
# if they are missing. Everything runs inside a network namespace of its own
# that has only loopback; the namespace and every process are removed on exit.
# Each throughput, latency, rate and UDP figure is the median of ROUNDS runs
# (3 unless -r says otherwise) taken round-robin over the paths. Total run time
# is about 4 minutes with 3 rounds.
#
#   sudo bench/relay.sh [-o FILE] [-r ROUNDS] [-b REV]   # FILE gets the markdown table too
#
# -b REV adds the relay as of git revision REV ("before") to the same
# interleaved rounds, for a paired before/after table (memory is not measured
# for it).
#
# Measured for each path: TCP throughput with 1 and 8 streams (iperf3 through
# the relay), 64-byte request/response latency p50/p99, new connections per
# second at concurrency 32 with the CPU time (user and system) the relay and
# the echo target spent per connection meanwhile, memory (PSS of the relay's process tree) and
# descriptors per idle connection with 5,000 held open, and 64-byte UDP echo
# datagrams per second (4 clients × 32 in flight).
set -euo pipefail

OUT=""
ROUNDS=3
BEFORE=""
while getopts "o:r:b:" opt; do
	case $opt in
	o) OUT=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	b) BEFORE=$OPTARG ;;
	*) echo "usage: $0 [-o FILE] [-r ROUNDS] [-b REV]" >&2; exit 2 ;;
	esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "relay.sh: -r wants a positive count" >&2; exit 2; }

[ "$(uname -s)" = Linux ] || { echo "relay.sh: Linux only" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "relay.sh: run as root (network namespace, ulimit)" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROXYD=""
for p in /lib/systemd/systemd-socket-proxyd /usr/lib/systemd/systemd-socket-proxyd; do
	[ -x "$p" ] && PROXYD=$p && break
done
need=()
command -v socat >/dev/null || need+=(socat)
command -v rinetd >/dev/null || need+=(rinetd)
command -v iperf3 >/dev/null || need+=(iperf3)
{ command -v systemd-socket-activate >/dev/null && [ -n "$PROXYD" ]; } || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	for p in /lib/systemd/systemd-socket-proxyd /usr/lib/systemd/systemd-socket-proxyd; do
		[ -x "$p" ] && PROXYD=$p && break
	done
fi

NS=relaybench-$$
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	# Anything still in the namespace (forked socat children, proxyd).
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
nsx() { ip netns exec "$NS" "$@"; }
# Enough ports and TIME_WAIT reuse for the connection-rate test.
nsx sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096
# 5,000 idle connections need ~10,000 descriptors in the relay; raise the
# limit as far as this environment lets us.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 12000 ] || { echo "relay.sh: need ulimit -n >= 12000 (have $(ulimit -n))" >&2; exit 1; }

echo "building bench/relayload" >&2
(cd "$ROOT" && go build -o "$WORK/relayload" ./bench/relayload)
LOAD=$WORK/relayload
if [ -n "$BEFORE" ]; then
	echo "building bench/relayload at $BEFORE" >&2
	mkdir "$WORK/before"
	git -C "$ROOT" archive "$BEFORE" | tar -x -C "$WORK/before"
	(cd "$WORK/before" && go build -o "$WORK/relayload-before" ./bench/relayload)
fi

bg() { # run in the namespace in the background, remember the pid
	# (ip netns exec execs the command, so $! is the server itself)
	ip netns exec "$NS" "$@" >"$WORK/bg.${#PIDS[@]}.log" 2>&1 &
	LASTPID=$!
	NAMES[$LASTPID]="$*"
	LOGS[$LASTPID]="$WORK/bg.${#PIDS[@]}.log"
	PIDS+=($LASTPID)
}
declare -A NAMES LOGS
died() { # report servers that exited during the run
	local p
	for p in "${PIDS[@]}"; do
		if ! kill -0 "$p" 2>/dev/null; then
			echo "  exited during the run: ${NAMES[$p]}" >&2
			tail -5 "${LOGS[$p]}" | sed 's/^/    /' >&2
		fi
	done
}
wait_tcp() { # wait until something listens on 127.0.0.1:$1
	for _ in $(seq 100); do
		nsx bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on $1" >&2
	return 1
}

# Targets: iperf3 on 5201, TCP echo on 7000, UDP echo on 7001.
bg iperf3 -s -p 5201
bg "$LOAD" echo -tcp 127.0.0.1:7000 -udp 127.0.0.1:7001
ECHOPID=$LASTPID
wait_tcp 5201
wait_tcp 7000

# Each path has a port base B: B1 → iperf3, B2 → TCP echo, B3 → UDP echo.
declare -A BASE=([direct]="" [upnpmap]=61 [socat]=62 [rinetd]=63 [proxyd]=64 [before]=65)
declare -A PID2 # the process (tree root) that serves B2, for memory
port() { # port PATH KIND(1 iperf, 2 tcp echo, 3 udp echo)
	if [ "$1" = direct ]; then
		case $2 in 1) echo 5201 ;; 2) echo 7000 ;; 3) echo 7001 ;; esac
	else
		echo "${BASE[$1]}0$2"
	fi
}

# upnpmap: one relay process per target.
bg "$LOAD" relay -network tcp -listen 127.0.0.1:6101 -target 127.0.0.1:5201
bg "$LOAD" relay -network tcp -listen 127.0.0.1:6102 -target 127.0.0.1:7000
PID2[upnpmap]=$LASTPID
bg "$LOAD" relay -network udp -listen 127.0.0.1:6103 -target 127.0.0.1:7001
# socat: fork per connection (TCP) or per peer (UDP-LISTEN).
bg socat TCP-LISTEN:6201,bind=127.0.0.1,fork,reuseaddr,backlog=4096 TCP:127.0.0.1:5201
bg socat TCP-LISTEN:6202,bind=127.0.0.1,fork,reuseaddr,backlog=4096 TCP:127.0.0.1:7000
PID2[socat]=$LASTPID
bg socat UDP-LISTEN:6203,bind=127.0.0.1,fork,reuseaddr UDP:127.0.0.1:7001
# rinetd: one process for all three.
cat >"$WORK/rinetd.conf" <<EOF
127.0.0.1 6301 127.0.0.1 5201
127.0.0.1 6302 127.0.0.1 7000
127.0.0.1 6303/udp 127.0.0.1 7001/udp
EOF
bg rinetd -f -c "$WORK/rinetd.conf"
PID2[rinetd]=$LASTPID
# systemd-socket-proxyd: socket activation; no UDP.
bg systemd-socket-activate -l 127.0.0.1:6401 "$PROXYD" -c 8192 127.0.0.1:5201
bg systemd-socket-activate -l 127.0.0.1:6402 "$PROXYD" -c 8192 127.0.0.1:7000
PID2[proxyd]=$LASTPID # systemd-socket-activate execs proxyd in place
PATHS=(direct upnpmap socat rinetd proxyd)
UDPPATHS=(direct upnpmap socat rinetd)
if [ -n "$BEFORE" ]; then
	bg "$WORK/relayload-before" relay -network tcp -listen 127.0.0.1:6501 -target 127.0.0.1:5201
	bg "$WORK/relayload-before" relay -network tcp -listen 127.0.0.1:6502 -target 127.0.0.1:7000
	PID2[before]=$LASTPID
	bg "$WORK/relayload-before" relay -network udp -listen 127.0.0.1:6503 -target 127.0.0.1:7001
	PATHS+=(before)
	UDPPATHS+=(before)
fi
for p in "${PATHS[@]:1}"; do
	wait_tcp "$(port $p 1)"
	wait_tcp "$(port $p 2)"
done
sleep 0.5

declare -A R # results: R[metric,path], the median of ROUNDS interleaved runs
declare -A S # samples: S[metric,path]="v1 v2 …"
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
add() { S[$1,$2]="${S[$1,$2]:-} $3"; }
median() { # median of the numbers in $1 ("fail" when there are none)
	echo "$1" | tr ' ' '\n' | { grep -E '^[0-9.]+$' || true; } | sort -g |
		awk '{a[NR]=$1} END{ if (NR) print a[int((NR+1)/2)]; else print "fail" }'
}
# Runs of one metric go round the paths ROUNDS times, so that load from
# elsewhere on the machine spreads over all paths instead of hitting one.

echo "TCP throughput" >&2
iperf() { # iperf PATH STREAMS → Gbit/s (one retry: the server may still be busy)
	local out
	for _ in 1 2; do
		if out=$(nsx iperf3 -c 127.0.0.1 -p "$(port "$1" 1)" -t 2 -P "$2" -f m 2>&1); then
			echo "$out" | grep receiver | tail -1 | awk '{for(i=1;i<=NF;i++) if($i=="Mbits/sec") printf "%.2f", $(i-1)/1000}'
			return
		fi
		sleep 1
	done
	echo "  iperf3 via $1 failed: $out" >&2
}
for _ in $(seq $ROUNDS); do
	for p in "${PATHS[@]}"; do
		for s in 1 8; do add tput$s "$p" "$(iperf "$p" "$s")"; done
	done
done

echo "latency" >&2
for _ in $(seq $ROUNDS); do
	for p in "${PATHS[@]}"; do
		out=$(nsx "$LOAD" rr -addr "127.0.0.1:$(port "$p" 2)" -size 64 -d 1500ms 2>&1) || true
		add p50 "$p" "$(echo "$out" | val p50_us)"
		add p99 "$p" "$(echo "$out" | val p99_us)"
	done
done

echo "connection rate" >&2
HZ=$(getconf CLK_TCK)
ticks() { # user and system clock ticks of a process and its reaped children ("0 0" for none)
	if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
		# Fields after the parenthesised name: utime is 12th, cutime 14th.
		sed 's/.*) //' "/proc/$1/stat" | awk '{print $12+$14, $13+$15}'
	else
		echo "0 0"
	fi
}
# Besides the rate, the CPU time the relay (the process serving B2) and the
# echo target spent per connection: where the relay's time goes next to the
# kernel's share that every relay pays (see the table's CPU rows).
for _ in $(seq $ROUNDS); do
	for p in "${PATHS[@]}"; do
		read -r u0 s0 < <(ticks "${PID2[$p]:-}")
		read -r eu0 es0 < <(ticks "$ECHOPID")
		out=$(nsx "$LOAD" connrate -addr "127.0.0.1:$(port "$p" 2)" -size 64 -c 32 -d 2s 2>&1) || true
		read -r u1 s1 < <(ticks "${PID2[$p]:-}")
		read -r eu1 es1 < <(ticks "$ECHOPID")
		cps=$(echo "$out" | val conns_per_s)
		add cps "$p" "$cps"
		if [ -n "$cps" ] && [ "$cps" -gt 0 ]; then
			perconn() { awk -v t="$1" -v hz="$HZ" -v n="$cps" 'BEGIN{printf "%.1f", t*1e6/hz/(n*2)}'; }
			if [ "$p" != direct ]; then
				add cpuu "$p" "$(perconn $((u1 - u0)))"
				add cpus "$p" "$(perconn $((s1 - s0)))"
			fi
			add ecpu "$p" "$(perconn $((eu1 - eu0 + es1 - es0)))"
		fi
		sleep 0.5
	done
done

echo "UDP echo" >&2
for _ in $(seq $ROUNDS); do
	for p in "${UDPPATHS[@]}"; do
		out=$(nsx "$LOAD" udpflood -addr "127.0.0.1:$(port "$p" 3)" -size 64 -clients 4 -window 32 -d 2s 2>&1) || true
		add pps "$p" "$(echo "$out" | val pps)"
	done
done
for m in tput1 tput8 p50 p99 cps cpuu cpus ecpu pps; do
	for p in "${PATHS[@]}"; do
		R[$m,$p]=$(median "${S[$m,$p]:-}")
		echo "  $m $p: ${S[$m,$p]:-} → ${R[$m,$p]}" >&2
	done
done
R[pps,proxyd]="n/a"
R[cpuu,direct]="-"
R[cpus,direct]="-"

tree() { # a pid and all its descendants, one ps call (socat has 5,000 children)
	ps -e -o pid=,ppid= | awk -v root="$1" '{p[$1]=$2} END{
		for (x in p) { y=x; n=0; while (y!=root && (y in p) && n++<64) y=p[y]; if (y==root) print x } }'
}
pss_kib() { # summed PSS of a process tree, KiB
	local files
	files=$(for p in $(tree "$1"); do [ -r "/proc/$p/smaps_rollup" ] && echo "/proc/$p/smaps_rollup"; done)
	[ -n "$files" ] || { echo 0; return; }
	# shellcheck disable=SC2086
	awk '/^Pss:/{s+=$2} END{print s+0}' $files 2>/dev/null
}
fds() {
	local dirs
	dirs=$(for p in $(tree "$1"); do echo "/proc/$p/fd"; done)
	# shellcheck disable=SC2086
	find $dirs -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

echo "idle connections" >&2
HOLD=5000
NOTES=()
for p in upnpmap socat rinetd proxyd; do
	root=${PID2[$p]} # ip netns exec execs the command, so this is the server
	m0=$(pss_kib "$root")
	f0=$(fds "$root")
	coproc HOLDER { nsx "$LOAD" hold -addr "127.0.0.1:$(port "$p" 2)" -n $HOLD 2>&1; }
	hpid=$HOLDER_PID hin=${HOLDER[1]} # bash unsets these when the holder exits
	if read -r -t 90 line <&"${HOLDER[0]}" && [ "$line" = "held $HOLD" ]; then
		# Let quiet connections settle (upnpmap parks a direction after
		# 250 ms and releases pooled splice pipes within a few seconds).
		sleep 5
		m1=$(pss_kib "$root")
		f1=$(fds "$root")
		R[mem,$p]=$(awk -v a="$m0" -v b="$m1" -v n=$HOLD 'BEGIN{printf "%.1f", (b-a)/n}')
		R[fd,$p]=$(awk -v a="$f0" -v b="$f1" -v n=$HOLD 'BEGIN{printf "%.2f", (b-a)/n}')
		echo "  $p: ${R[mem,$p]} KiB, ${R[fd,$p]} fds per connection" >&2
	else
		echo "  $p: holder said: ${line:-nothing}" >&2
		NOTES+=("idle test, $p: the holder did not get $HOLD connections through (${line:-no answer within 90 s}); $(fds "${PID2[$p]}") descriptors open in its process tree at that point")
		R[mem,$p]=fail
		R[fd,$p]=fail
	fi
	eval "exec $hin>&-" 2>/dev/null || true # EOF on the holder's stdin: it closes everything
	wait "$hpid" 2>/dev/null || true
	sleep 2
done
R[mem,direct]="-"
R[fd,direct]="-"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2f", a/b; else print "-" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/) print "n/a"; else print (a+0 >= b+0) ? "met" : "MISSED" }'; }
le() { ge "$2" "$1"; }

died
for p in "${PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null || NOTES+=("exited during the run: ${NAMES[$p]}")
done
U=upnpmap
# The targets are issue 15's goals, as ratios within this one run.
times() { awk -v a="$1" -v k="$2" 'BEGIN{ if (a ~ /^[0-9.]+$/) printf "%.1f", a*k; else print "n/a" }'; }
table=$(
	echo "| metric | direct | upnpmap | socat | rinetd | socket-proxyd | upnpmap/direct | upnpmap/rinetd | target |"
	echo "|---|---|---|---|---|---|---|---|---|"
	row() { # row LABEL METRIC TARGET
		echo "| $1 | ${R[$2,direct]} | ${R[$2,$U]} | ${R[$2,socat]} | ${R[$2,rinetd]} | ${R[$2,proxyd]} | $(ratio "${R[$2,$U]}" "${R[$2,direct]}") | $(ratio "${R[$2,$U]}" "${R[$2,rinetd]}") | $3 |"
	}
	row "TCP 1 stream, Gbit/s" tput1 "≥ socket-proxyd: $(ge "${R[tput1,$U]}" "${R[tput1,proxyd]}")"
	row "TCP 8 streams, Gbit/s" tput8 "≥ socket-proxyd: $(ge "${R[tput8,$U]}" "${R[tput8,proxyd]}")"
	row "64 B req/resp p50, µs" p50 "≤ 1.4 × direct: $(le "${R[p50,$U]}" "$(times "${R[p50,direct]}" 1.4)")"
	row "64 B req/resp p99, µs" p99 ""
	row "new conns/s (c=32)" cps "≥ 1.2 × rinetd: $(ge "${R[cps,$U]}" "$(times "${R[cps,rinetd]}" 1.2)")"
	row "relay CPU per new conn, user µs" cpuu ""
	row "relay CPU per new conn, system µs" cpus ""
	row "echo target CPU per new conn, µs" ecpu ""
	row "KiB per idle conn (PSS, 5000 held)" mem "≤ 4: $(le "${R[mem,$U]}" 4)"
	row "fds per idle conn" fd ""
	row "UDP 64 B echo, datagrams/s" pps "≥ 0.7 × direct: $(ge "${R[pps,$U]}" "$(times "${R[pps,direct]}" 0.7)")"
)
notes=""
for n in "${NOTES[@]}"; do notes+="- $n"$'\n'; done
hdr="relay benchmark $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), Go $(go env GOVERSION), socat $(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p'), rinetd $(rinetd --version 2>&1 | awk '{print $2}'), iperf3 $(iperf3 --version | awk 'NR==1{print $2}')"
printf '%s\n\n%s\n\n%s' "$hdr" "$table" "$notes"
if [ -n "$BEFORE" ]; then
	before=$(
		echo "| metric | direct | upnpmap before ($BEFORE) | upnpmap after | before/direct | after/direct | after/before |"
		echo "|---|---|---|---|---|---|---|"
		for m in tput1 tput8 p50 p99 cps cpuu cpus pps; do
			echo "| $m | ${R[$m,direct]} | ${R[$m,before]} | ${R[$m,$U]} | $(ratio "${R[$m,before]}" "${R[$m,direct]}") | $(ratio "${R[$m,$U]}" "${R[$m,direct]}") | $(ratio "${R[$m,$U]}" "${R[$m,before]}") |"
		done
	)
	printf '\n\n%s\n' "$before"
	table+=$'\n\nBefore and after, in the same rounds:\n\n'"$before"
fi
if [ -n "$OUT" ]; then
	printf '%s\n\ncommand: sudo bench/relay.sh -o %s -r %s%s\n\n%s\n\n%s' "$hdr" "$OUT" "$ROUNDS" "${BEFORE:+ -b $BEFORE}" "$table" "$notes" >"$OUT"
fi
