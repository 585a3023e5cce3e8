#!/usr/bin/env bash
# bench.sh: end-to-end benchmarks of esn against a local Prosody (issue 4).
#
# Usage: scripts/bench.sh [-n ROUNDS] [-m MESSAGES] [-s BODY_BYTES] [-r REPEATS] [-p PROFILE_DIR] [-x]
#
#   1. one-shot: the wall time of one `esn send` (connect, authenticate, find
#      bob's client, negotiate, send, wait for the terminate acknowledgement)
#      next to one plaintext `go-sendxmpp` send, alternating, ROUNDS each
#      (default 10); bob runs `esn receive` throughout.
#   2. sustained: MESSAGES (default 8000) encrypted messages of BODY_BYTES
#      (default 1024) between two esn processes (`esn send --lines` to
#      `esn receive --count`), rate measured at bob, next to plaintext
#      streams of stanzas of the same size on the wire over the same
#      connection code (pkg/transport; scripts/bench/benchtool.go): one
#      process sending and receiving ("plain"), and two processes doing
#      the command-line work of esn without the encryption, stdin lines in
#      and JSON lines out ("plain-send", "plain-recv").
#   3. esn's CPU per encrypted message (sender + receiver, user + system,
#      the marginal cost between a run of MESSAGES and one of MESSAGES/4)
#      next to the plaintext streams' CPU per message, measured the same
#      way; and the "floor": the two-process stream plus the least work
#      any ESession implementation must add under esn's rules (AES-CTR,
#      HMAC and Base64 both ways, encoding/xml parsing the plaintext).
#   Parts 2 and 3 are repeated REPEATS times (default 3), encrypted and
#   plaintext runs alternating; the medians are reported, with the range.
#   With -p, esn is built with -tags esnprofile and every process of the
#   long runs writes a CPU profile to PROFILE_DIR. With -x, the floor is
#   also measured without its encoding/xml parse, to show that parse's share.
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
msgs=8000
size=1024
reps=3
profdir=
noparse=0
while getopts 'n:m:s:r:p:xh' o; do
	case $o in
	n) rounds=$OPTARG ;;
	m) msgs=$OPTARG ;;
	s) size=$OPTARG ;;
	r) reps=$OPTARG ;;
	p) profdir=$(mkdir -p "$OPTARG" && cd "$OPTARG" && pwd) ;;
	x) noparse=1 ;;
	*)
		sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'
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
if [ -n "$profdir" ]; then
	go build -tags esnprofile -o "$work/esn" ./cmd/esn
else
	go build -o "$work/esn" ./cmd/esn
fi
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

# prof NAME: the environment that makes a process write a CPU profile
# (with -p, for the long runs, whose tags start with "big").
prof() {
	case $1 in
	*big*) [ -n "$profdir" ] && printf 'ESN_CPUPROFILE=%s/%s.prof' "$profdir" "$1" ;;
	esac
	return 0
}

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
		env $(as bob) $(prof "esn-receive-$tag") "$esn" --json receive --from "alice@$ESN_DOMAIN" --count "$n" --timeout 10m >"$work/bob-$tag.out" 2>"$work/bob-$tag.err"
		times >"$work/bob-$tag.times"
	) &
	pids+=($!)
	for _ in $(seq 50); do grep -q '"event":"ready"' "$work/bob-$tag.out" 2>/dev/null && break; sleep 0.1; done
	for _ in $(seq "$n"); do printf '%s\n' "$body"; done >"$work/lines-$tag.txt"
	if ! (
		rc=0
		env $(as alice) $(prof "esn-send-$tag") "$esn" send --lines "bob@$ESN_DOMAIN" <"$work/lines-$tag.txt" 2>"$work/alice-$tag.err" || rc=$?
		times >"$work/alice-$tag.times"
		exit "$rc"
	); then
		note "esn send --lines of $n messages failed:"
		tail -n 3 "$work/alice-$tag.err" >&2
		exit 1
	fi
	wait "${pids[0]}"
	pids=()
	read -r _ enc_count _ enc_rate <<<"$("$bt" rate "$work/bob-$tag.out" | tr '\n' ' ')"
	if [ "$enc_count" != "$n" ]; then
		note "only $enc_count of $n encrypted messages arrived"
		tail -n 5 "$work/alice-$tag.err" "$work/bob-$tag.err" >&2
		exit 1
	fi
	enc_cpu=$(awk -v a="$(cpu_of "$work/alice-$tag.times")" -v b="$(cpu_of "$work/bob-$tag.times")" 'BEGIN { print a + b }')
	cpu=$enc_cpu
}

# sustained_plain N TAG: the same over pkg/transport in plaintext; sets
# plain_rate, plain_wire and plain_cpu.
sustained_plain() {
	local n=$1 tag=$2
	(
		env $(prof "plain-$tag") "$bt" plain -server "$ESN_SERVER" -ca "$ESN_CA_FILE" -domain "$ESN_DOMAIN" -n "$n" -wire "$wire" >"$work/plain-$tag.out"
		times >"$work/plain-$tag.times"
	)
	plain_rate=$(awk '$1 == "rate" { print $2 }' "$work/plain-$tag.out")
	plain_wire=$(awk '$1 == "wire" { print $2 }' "$work/plain-$tag.out")
	plain_cpu=$(cpu_of "$work/plain-$tag.times")
	cpu=$plain_cpu
}

# sustained_split N TAG [FLOOR]: the plaintext stream as two processes
# doing the command-line work of `esn send --lines` (stdin lines) and `esn
# --json receive` (a JSON line per message), over pkg/transport; sets
# split_rate, split_wire and split_cpu. With FLOOR (a plaintext size), both
# also do the least work ESessions add under esn's rules (benchtool's
# floorWork): the CPU a perfect implementation would spend.
sustained_split() {
	local n=$1 tag=$2 floor=${3:-0} parse=${4:-true} to
	(
		env $(prof "plain-recv-$tag") "$bt" plain-recv -server "$ESN_SERVER" -ca "$ESN_CA_FILE" -domain "$ESN_DOMAIN" -n "$n" -floor "$floor" -floor-parse="$parse" >"$work/split-recv-$tag.out" 2>"$work/split-recv-$tag.err"
		times >"$work/split-recv-$tag.times"
	) &
	pids+=($!)
	for _ in $(seq 50); do grep -q '"event":"ready"' "$work/split-recv-$tag.out" 2>/dev/null && break; sleep 0.1; done
	to=$(sed -n 's/.*"jid":"\([^"]*\)".*/\1/p' "$work/split-recv-$tag.out" | head -n 1)
	[ -n "$to" ] || { cat "$work/split-recv-$tag.err" >&2; exit 1; }
	if [ -z "${split_body:-}" ]; then
		split_body=$(head -c "$("$bt" plain-send -server "$ESN_SERVER" -ca "$ESN_CA_FILE" -domain "$ESN_DOMAIN" -to "$to" -bodylen "$wire")" /dev/zero | tr '\0' 'x')
	fi
	for _ in $(seq "$n"); do printf '%s\n' "$split_body"; done >"$work/split-lines-$tag.txt"
	(
		env $(prof "plain-send-$tag") "$bt" plain-send -server "$ESN_SERVER" -ca "$ESN_CA_FILE" -domain "$ESN_DOMAIN" -to "$to" -floor "$floor" <"$work/split-lines-$tag.txt" >"$work/split-send-$tag.out"
		times >"$work/split-send-$tag.times"
	)
	wait "${pids[0]}"
	pids=()
	read -r _ split_count _ split_rate <<<"$("$bt" rate "$work/split-recv-$tag.out" | tr '\n' ' ')"
	if [ "$split_count" != "$n" ]; then
		note "only $split_count of $n plaintext messages arrived"
		exit 1
	fi
	split_wire=$(awk '$1 == "wire" { print $2 }' "$work/split-send-$tag.out")
	split_cpu=$(awk -v a="$(cpu_of "$work/split-send-$tag.times")" -v b="$(cpu_of "$work/split-recv-$tag.times")" 'BEGIN { print a + b }')
	cpu=$split_cpu
}

# CPU per message is the marginal cost: the difference between a run of
# MESSAGES and one of MESSAGES/4, so that connecting, authenticating,
# negotiating and the Go runtime's start are not counted. The machine may
# be shared: each measure is repeated, encrypted and plaintext alternating,
# and the medians are reported.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
per_msg_ms() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.4f", c * 1000 / n }'; }
small=$((msgs / 4))
enc_ms_all=() plain_ms_all=() ratio_all=() enc_rate_all=() plain_rate_all=()
split_ms_all=() split_ratio_all=() split_rate_all=()
floor_ms_all=() floor_ratio_all=() enc_floor_all=() noparse_ms_all=()
# The plaintext of one encrypted message: <body>BODY</body>.
floor_size=$((size + 13))
# marginal FUNCTION TAG [ARGS...]: runs FUNCTION (sustained_enc,
# sustained_plain or sustained_split, which set cpu) for MESSAGES/4 and
# then MESSAGES messages, and sets per_msg to the marginal CPU per message
# in ms. The rate variables FUNCTION sets are those of the long run.
marginal() {
	local fn=$1 tag=$2 before
	shift 2
	"$fn" "$small" "small-$tag" "$@"
	before=$cpu
	"$fn" "$msgs" "big-$tag" "$@"
	per_msg=$(per_msg_ms "$(awk -v a="$cpu" -v b="$before" 'BEGIN { print a - b }')" "$((msgs - small))")
}
for r in $(seq "$reps"); do
	note "sustained, repeat $r of $reps: $small and $msgs encrypted messages"
	marginal sustained_enc "enc$r"
	e=$per_msg
	enc_rate_all+=("$enc_rate")
	note "sustained, repeat $r of $reps: $small and $msgs plaintext stanzas of $wire bytes over pkg/transport"
	marginal sustained_plain "plain$r"
	p=$per_msg
	plain_rate_all+=("$plain_rate")
	note "sustained, repeat $r of $reps: $small and $msgs plaintext messages between two processes"
	marginal sustained_split "split$r"
	q=$per_msg
	split_rate_all+=("$split_rate")
	note "sustained, repeat $r of $reps: the same with the least work of an ESession (floor)"
	marginal sustained_split "floor$r" "$floor_size"
	f=$per_msg
	if ((noparse)); then
		note "sustained, repeat $r of $reps: the floor without its encoding/xml parse"
		marginal sustained_split "noparse$r" "$floor_size" false
		noparse_ms_all+=("$per_msg")
	fi
	enc_ms_all+=("$e")
	plain_ms_all+=("$p")
	split_ms_all+=("$q")
	floor_ms_all+=("$f")
	ratio_all+=("$(ratio "$e" "$p")")
	split_ratio_all+=("$(ratio "$e" "$q")")
	floor_ratio_all+=("$(ratio "$f" "$q")")
	enc_floor_all+=("$(ratio "$e" "$f")")
done
read -r _ enc_rate _ enc_rate_min _ enc_rate_max < <("$bt" stats "${enc_rate_all[@]}")
read -r _ plain_rate _ plain_rate_min _ plain_rate_max < <("$bt" stats "${plain_rate_all[@]}")
read -r _ enc_ms _ enc_ms_min _ enc_ms_max < <("$bt" stats "${enc_ms_all[@]}")
read -r _ plain_ms _ plain_ms_min _ plain_ms_max < <("$bt" stats "${plain_ms_all[@]}")
read -r _ _ _ ratio_min _ ratio_max < <("$bt" stats "${ratio_all[@]}")
read -r _ split_rate _ split_rate_min _ split_rate_max < <("$bt" stats "${split_rate_all[@]}")
read -r _ split_ms _ split_ms_min _ split_ms_max < <("$bt" stats "${split_ms_all[@]}")
read -r _ _ _ split_ratio_min _ split_ratio_max < <("$bt" stats "${split_ratio_all[@]}")
read -r _ floor_ms _ floor_ms_min _ floor_ms_max < <("$bt" stats "${floor_ms_all[@]}")
read -r _ _ _ floor_ratio_min _ floor_ratio_max < <("$bt" stats "${floor_ratio_all[@]}")
read -r _ _ _ enc_floor_min _ enc_floor_max < <("$bt" stats "${enc_floor_all[@]}")
noparse_line=
if ((noparse)); then
	read -r _ noparse_ms _ noparse_ms_min _ noparse_ms_max < <("$bt" stats "${noparse_ms_all[@]}")
	noparse_line="  floor without the plaintext parse             $(awk -v v="$noparse_ms" 'BEGIN { printf "%.3f", v }') ms  ($(awk -v v="$noparse_ms_min" 'BEGIN { printf "%.3f", v }') - $(awk -v v="$noparse_ms_max" 'BEGIN { printf "%.3f", v }')), ratio to the two-process stream $(ratio "$noparse_ms" "$split_ms")"
fi
ms() { awk -v v="$1" 'BEGIN { printf "%.3f", v }'; }
num() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }
r2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }

# ------------------------------------------------------------ report

cat <<EOF

esn bench ($(date -u +%Y-%m-%d), $(nproc) CPUs, $(go version | awk '{print $3}'), prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null || echo '?'), mam off)

one-shot send, $rounds rounds each, wall seconds   median  (min - max)
  esn send (encrypted, acknowledged)            $esn_med  ($esn_min - $esn_max)
  go-sendxmpp (plaintext)                       $gsx_med  ($gsx_min - $gsx_max)
  ratio esn / go-sendxmpp                       $(ratio "$esn_med" "$gsx_med")   (target <= 1.0)

sustained, $msgs messages, body $size bytes, stanza $wire bytes on the wire (plaintext $plain_wire / $split_wire); median of $reps  (min - max)
  encrypted esn -> esn                          $(num "$enc_rate") msg/s  ($(num "$enc_rate_min") - $(num "$enc_rate_max"))
  plaintext, one process (pkg/transport)        $(num "$plain_rate") msg/s  ($(num "$plain_rate_min") - $(num "$plain_rate_max"))
  plaintext, two processes (stdin -> JSON)      $(num "$split_rate") msg/s  ($(num "$split_rate_min") - $(num "$split_rate_max"))
  ratio encrypted / plaintext one process       $(ratio "$enc_rate" "$plain_rate")   (target >= 0.9)
  ratio encrypted / plaintext two processes     $(ratio "$enc_rate" "$split_rate")   (target >= 0.9)

CPU per message (sender + receiver, user + system; marginal: runs of $msgs minus $small messages); median of $reps  (min - max)
  esn encrypted (two processes)                 $(ms "$enc_ms") ms  ($(ms "$enc_ms_min") - $(ms "$enc_ms_max"))
  plaintext, one process, no stdin or output    $(ms "$plain_ms") ms  ($(ms "$plain_ms_min") - $(ms "$plain_ms_max"))
  plaintext, two processes (stdin -> JSON)      $(ms "$split_ms") ms  ($(ms "$split_ms_min") - $(ms "$split_ms_max"))
  ratio to the one-process stream               $(ratio "$enc_ms" "$plain_ms")   (per repeat $(r2 "$ratio_min") - $(r2 "$ratio_max"))
  floor: two processes + the least ESession work $(ms "$floor_ms") ms  ($(ms "$floor_ms_min") - $(ms "$floor_ms_max"))
  ratio to the two-process stream               $(ratio "$enc_ms" "$split_ms")   (target <= 1.3; per repeat $(r2 "$split_ratio_min") - $(r2 "$split_ratio_max"))
  ratio of the floor to the two-process stream  $(ratio "$floor_ms" "$split_ms")   (what parsing the plaintext with encoding/xml alone adds, with the least crypto; per repeat $(r2 "$floor_ratio_min") - $(r2 "$floor_ratio_max"))
  ratio of esn to the floor                     $(ratio "$enc_ms" "$floor_ms")   (per repeat $(r2 "$enc_floor_min") - $(r2 "$enc_floor_max"))
$noparse_line
EOF
