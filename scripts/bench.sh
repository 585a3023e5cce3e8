#!/usr/bin/env bash
# bench.sh: end-to-end benchmarks of esn against a local Prosody (issue 4).
#
# Usage: scripts/bench.sh [-n ROUNDS] [-m MESSAGES] [-s BODY_BYTES]
#
#   1. one-shot: the wall time of one `esn send` (connect, authenticate, find
#      bob's client, negotiate, send, wait for the terminate acknowledgement)
#      next to one plaintext `go-sendxmpp` send, alternating, ROUNDS each
#      (default 10); bob runs `esn receive` throughout.
#   2. sustained: MESSAGES (default 2000) encrypted messages of BODY_BYTES
#      (default 1024) between two esn processes (`esn send --lines` to
#      `esn receive --count`), rate measured at bob, next to a plaintext
#      stream of stanzas of the same size on the wire over the same
#      connection code (pkg/transport; scripts/bench/benchtool.go plain).
#   3. esn's CPU per encrypted message (sender + receiver, user + system,
#      the marginal cost between a run of MESSAGES and one of MESSAGES/4)
#      next to the plaintext stream's CPU per message, measured the same way.
#
# The server runs with mam disabled (ESN_PROSODY_NO_MAM=1): Prosody's single
# Lua thread is the bottleneck, and archiving would dominate. Installs
# go-sendxmpp (scripts/ensure-tools.sh) and Prosody (scripts/prosody.sh) if
# missing. Prints the ratios against the issue's targets; record them in
# docs/performance.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
rounds=10
msgs=2000
size=1024
while getopts 'n:m:s:h' o; do
	case $o in
	n) rounds=$OPTARG ;;
	m) msgs=$OPTARG ;;
	s) size=$OPTARG ;;
	*)
		sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
		exit 64
		;;
	esac
done

note() { printf 'bench.sh: %s\n' "$*" >&2; }

scripts/ensure-tools.sh go-sendxmpp

work=$(mktemp -d "${TMPDIR:-/tmp}/esn-bench.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$root/scripts/prosody.sh" stop "$work/srv" >/dev/null 2>&1 || true
	rm -rf -- "$work"
}
trap cleanup EXIT

note "building esn and benchtool"
go build -o "$work/esn" ./cmd/esn
go build -o "$work/benchtool" scripts/bench/benchtool.go

ESN_PROSODY_NO_MAM=1 ESN_PROSODY_PORT=auto ESN_PROSODY_OWNER_PID=$$ \
	scripts/prosody.sh start "$work/srv" >/dev/null
# shellcheck disable=SC1091
. "$work/srv/esn.env"
export HOME=$work/home
mkdir -p "$HOME"
esn=$work/esn
bt=$work/benchtool

as() { # as USER: environment for esn as USER
	printf 'ESN_ACCOUNT=%s@%s ESN_PASSWORD=%s-pw ESN_STATE_DIR=%s' "$1" "$ESN_DOMAIN" "$1" "$work/state-$1"
}

now_ns() { date +%s%N; }

# cpu_of FILE: user+system seconds of the children, from `times` output.
cpu_of() {
	awk 'NR==2 { n = split($0, f, " "); t = 0; for (i = 1; i <= n; i++) { s = f[i]; m = s; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", s); sub(/s$/, "", s); t += m * 60 + s } print t }' "$1"
}

# ------------------------------------------------------------ 1. one-shot
note "one-shot: $rounds rounds of esn send vs go-sendxmpp, alternating"
env $(as bob) "$esn" --json receive --from "alice@$ESN_DOMAIN" >"$work/bob-oneshot.out" 2>"$work/bob-oneshot.err" &
pids+=($!)
for _ in $(seq 50); do grep -q '"event":"ready"' "$work/bob-oneshot.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"event":"ready"' "$work/bob-oneshot.out" || { cat "$work/bob-oneshot.err" >&2; exit 1; }

esn_t=()
gsx_t=()
for i in $(seq "$rounds"); do
	t0=$(now_ns)
	env $(as alice) "$esn" send "bob@$ESN_DOMAIN" "one-shot $i" 2>>"$work/alice-oneshot.err"
	t1=$(now_ns)
	printf 'plaintext %s\n' "$i" | go-sendxmpp -u "alice@$ESN_DOMAIN" -p alice-pw -j "$ESN_SERVER" -n "bob@$ESN_DOMAIN"
	t2=$(now_ns)
	esn_t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
	gsx_t+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
done
read -r _ esn_med _ esn_min _ esn_max < <("$bt" stats "${esn_t[@]}")
read -r _ gsx_med _ gsx_min _ gsx_max < <("$bt" stats "${gsx_t[@]}")
kill "${pids[0]}" && wait "${pids[0]}" 2>/dev/null || true
pids=()

# ------------------------------------------------------------ 2. sustained
note "sustained: $msgs encrypted messages of $size bytes between two esn processes"
body=$(head -c "$size" /dev/zero | tr '\0' 'x')
# The wire size of one encrypted stanza with this body.
env $(as bob) "$esn" --json receive --from "alice@$ESN_DOMAIN" --count 1 >"$work/bob-size.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do grep -q '"event":"ready"' "$work/bob-size.out" 2>/dev/null && break; sleep 0.1; done
env $(as alice) "$esn" --trace send "bob@$ESN_DOMAIN" "$body" 2>"$work/size-trace.txt"
wait "${pids[0]}" || true
pids=()
wire=$("$bt" wiresize "$work/size-trace.txt")

# sustained_enc N TAG: N encrypted messages; sets enc_rate, enc_count and
# enc_cpu (seconds, both processes).
sustained_enc() {
	local n=$1 tag=$2
	(
		env $(as bob) "$esn" --json receive --from "alice@$ESN_DOMAIN" --count "$n" --timeout 10m >"$work/bob-$tag.out" 2>"$work/bob-$tag.err"
		times >"$work/bob-$tag.times"
	) &
	pids+=($!)
	for _ in $(seq 50); do grep -q '"event":"ready"' "$work/bob-$tag.out" 2>/dev/null && break; sleep 0.1; done
	for _ in $(seq "$n"); do printf '%s\n' "$body"; done >"$work/lines-$tag.txt"
	(
		env $(as alice) "$esn" send --lines "bob@$ESN_DOMAIN" <"$work/lines-$tag.txt" 2>"$work/alice-$tag.err"
		times >"$work/alice-$tag.times"
	)
	wait "${pids[0]}"
	pids=()
	read -r _ enc_count _ enc_rate <<<"$("$bt" rate "$work/bob-$tag.out" | tr '\n' ' ')"
	enc_cpu=$(awk -v a="$(cpu_of "$work/alice-$tag.times")" -v b="$(cpu_of "$work/bob-$tag.times")" 'BEGIN { print a + b }')
}

# sustained_plain N TAG: the same over pkg/transport in plaintext; sets
# plain_rate, plain_wire and plain_cpu.
sustained_plain() {
	local n=$1 tag=$2
	(
		"$bt" plain -server "$ESN_SERVER" -ca "$ESN_CA_FILE" -domain "$ESN_DOMAIN" -n "$n" -wire "$wire" >"$work/plain-$tag.out"
		times >"$work/plain-$tag.times"
	)
	plain_rate=$(awk '$1 == "rate" { print $2 }' "$work/plain-$tag.out")
	plain_wire=$(awk '$1 == "wire" { print $2 }' "$work/plain-$tag.out")
	plain_cpu=$(cpu_of "$work/plain-$tag.times")
}

# CPU per message is the marginal cost: the difference between a run of
# MESSAGES and one of MESSAGES/4, so that connecting, authenticating,
# negotiating and the Go runtime's start are not counted.
small=$((msgs / 4))
sustained_enc "$small" small
enc_cpu_small=$enc_cpu
sustained_enc "$msgs" big
note "sustained: $msgs plaintext stanzas of $wire bytes over pkg/transport"
sustained_plain "$small" small
plain_cpu_small=$plain_cpu
sustained_plain "$msgs" big

# ------------------------------------------------------------ report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per_msg_ms() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.3f", c * 1000 / n }'; }
enc_ms=$(per_msg_ms "$(awk -v a="$enc_cpu" -v b="$enc_cpu_small" 'BEGIN { print a - b }')" "$((msgs - small))")
plain_ms=$(per_msg_ms "$(awk -v a="$plain_cpu" -v b="$plain_cpu_small" 'BEGIN { print a - b }')" "$((msgs - small))")

cat <<EOF

esn bench ($(date -u +%Y-%m-%d), $(nproc) CPUs, $(go version | awk '{print $3}'), prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null || echo '?'), mam off)

one-shot send, $rounds rounds each, wall seconds   median  (min - max)
  esn send (encrypted, acknowledged)            $esn_med  ($esn_min - $esn_max)
  go-sendxmpp (plaintext)                       $gsx_med  ($gsx_min - $gsx_max)
  ratio esn / go-sendxmpp                       $(ratio "$esn_med" "$gsx_med")   (target <= 1.0)

sustained, $msgs messages, body $size bytes, stanza $wire bytes on the wire (plaintext $plain_wire)
  encrypted esn -> esn                          $enc_rate msg/s ($enc_count received)
  plaintext pkg/transport stream                $plain_rate msg/s
  ratio encrypted / plaintext                   $(ratio "$enc_rate" "$plain_rate")   (target >= 0.9)

CPU per message (sender + receiver, user + system; marginal: runs of $msgs minus $small messages)
  esn encrypted                                 $enc_ms ms
  plaintext pkg/transport                       $plain_ms ms
  ratio                                         $(ratio "$enc_ms" "$plain_ms")   (target <= 1.3)
EOF
