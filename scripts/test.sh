#!/usr/bin/env bash
# test.sh: esn's test command (the README's, and CI's through .ci/run).
#
# Usage: scripts/test.sh [-short] [PACKAGES...]
#
#   1. gofmt: fails listing the files that need formatting
#   2. go vet (also of scripts/bench/benchtool.go and -tags esnprofile)
#   3. starts a throwaway Prosody (scripts/prosody.sh, installing it if needed)
#      in a temporary directory, exports ESN_TEST_ENV=DIR/esn.env, and stops it
#      on exit, also on failure or interrupt
#   4. go test -race -count=1 PACKAGES (default ./...)
#   5. a short fuzz run of every Fuzz target in PACKAGES (found with
#      go test -list, so new targets are picked up); a run that ends on Go
#      1.26's fuzz deadline race, without a failing input, is run again once
#
# -short (or ESN_TEST_SHORT=1) passes -short to go test and skips the fuzz
# runs, for quick local runs; CI runs everything.
#
# Environment: ESN_FUZZTIME (default 5s) per fuzz target; GOFLAGS as usual;
# ESN_PROSODY_* and ESN_DOMAIN are passed to scripts/prosody.sh (ports default
# to free ones here). Exits non-zero if any step fails; all steps run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

short=0
[[ ${ESN_TEST_SHORT:-0} =~ ^(1|true|yes)$ ]] && short=1
pkgs=()
for arg in "$@"; do
	case $arg in
	-short | --short) short=1 ;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' scripts/test.sh
		exit 0
		;;
	-*)
		echo "test.sh: unknown option $arg (try -h)" >&2
		exit 64
		;;
	*) pkgs+=("$arg") ;;
	esac
done
((${#pkgs[@]})) || pkgs=(./...)
fuzztime=${ESN_FUZZTIME:-5s}

failed=()
gotest_failed=0
step() { printf '\n== %s\n' "$*"; }
fail() {
	failed+=("$1")
	printf 'test.sh: FAILED: %s\n' "$1" >&2
}

go version

# ---- gofmt
step gofmt
if [[ ${pkgs[*]} == ./... ]]; then
	mapfile -t gofiles < <(git ls-files --cached --others --exclude-standard -- '*.go' 2>/dev/null ||
		find . -name '*.go' -not -path './.git/*')
else
	# Only the named packages' files.
	mapfile -t gofiles < <(go list -f '{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .CgoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .TestGoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .XTestGoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .IgnoredGoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}' "${pkgs[@]}")
fi
unformatted=()
if ((${#gofiles[@]})); then
	existing=()
	for f in "${gofiles[@]}"; do [[ -f $f && $f != */testdata/* && $f != testdata/* ]] && existing+=("$f"); done
	gofiles=("${existing[@]}")
	if ((${#existing[@]})); then
		if ! out=$(gofmt -l "${existing[@]}"); then
			fail "gofmt (cannot parse the files above)"
		fi
		[[ -n $out ]] && mapfile -t unformatted <<<"$out"
	fi
fi
if ((${#unformatted[@]})); then
	printf 'gofmt: these files need formatting (run gofmt -w):\n' >&2
	printf '  %s\n' "${unformatted[@]}" >&2
	fail gofmt
else
	echo "gofmt: ok (${#gofiles[@]} files)"
fi

# ---- go vet
step go vet "${pkgs[@]}"
go vet "${pkgs[@]}" || fail "go vet"
if [[ ${pkgs[*]} == ./... ]]; then
	# What the default build leaves out: scripts/bench.sh's helper and
	# esn's profiling hook (go build -tags esnprofile).
	go vet scripts/bench/benchtool.go || fail "go vet scripts/bench/benchtool.go"
	go vet -tags esnprofile ./cmd/esn || fail "go vet -tags esnprofile"
fi

# ---- tools the tests drive (go-sendxmpp as a peer without ESessions,
# openssl for key interoperability)
step "tools (scripts/ensure-tools.sh)"
scripts/ensure-tools.sh go-sendxmpp openssl || fail "installing test tools"

# ---- test server
step "prosody (scripts/prosody.sh)"
srvdir=$(mktemp -d "${TMPDIR:-/tmp}/esn-test.XXXXXX")
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n ${srvdir:-} && -d $srvdir ]]; then
		if ((gotest_failed)) && [[ -s $srvdir/prosody.log ]]; then
			echo "test.sh: the last lines of the test server's log ($srvdir/prosody.log):" >&2
			tail -n 15 "$srvdir/prosody.log" | sed 's/^/  /' >&2
		fi
		"$root/scripts/prosody.sh" stop "$srvdir" || true
		rm -rf -- "$srvdir"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Should this script die without running its trap, the server stops and its
# directory goes once this process is gone.
ESN_PROSODY_PORT=${ESN_PROSODY_PORT:-auto} ESN_PROSODY_OWNER_PID=$$ ESN_PROSODY_OWNER_RMDIR=1 \
	scripts/prosody.sh start "$srvdir" >/dev/null || {
	fail "starting prosody"
	printf '\ntest.sh: FAILED: %s\n' "${failed[*]}" >&2
	exit 1
}
export ESN_TEST_ENV=$srvdir/esn.env

# ---- go test
gotest=(go test -race -count=1)
((short)) && gotest+=(-short)
step "${gotest[*]} ${pkgs[*]}"
"${gotest[@]}" "${pkgs[@]}" || {
	gotest_failed=1
	fail "go test"
}

# ---- fuzz smoke runs

# fuzz_one PACKAGE TARGET: a smoke run of one target. Go 1.26's fuzz
# coordinator can end a -fuzztime run with a bare "context deadline
# exceeded" and no failing input when the deadline races a worker
# (go.dev/issue/75804, fixed in Go 1.27): such a run, and only such a run,
# is repeated once. A real failure writes its input and fails at once.
fuzz_one() {
	local out rc=0
	out=$(go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" "$1" 2>&1) || rc=$?
	printf '%s\n' "$out"
	if ((rc)) && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written to' <<<"$out"; then
		echo "test.sh: $2 stopped on the Go fuzz deadline race (go.dev/issue/75804), no input written: running it again"
		go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" "$1"
		return
	fi
	return "$rc"
}
if ((short)); then
	step "fuzz: skipped (-short)"
else
	step "fuzz: every Fuzz target for $fuzztime"
	# Only packages whose tests declare a Fuzz function need go test -list.
	mapfile -t fuzzpkgs < <(go list -f '{{.ImportPath}} {{.Dir}}' "${pkgs[@]}" |
		while read -r ip d; do
			grep -qsE '^func Fuzz[A-Z0-9_]' "$d"/*_test.go && echo "$ip"
		done)
	nfuzz=0
	for p in "${fuzzpkgs[@]}"; do
		if ! listed=$(go test -list '^Fuzz' "$p"); then
			printf '%s\n' "$listed"
			fail "listing fuzz targets of $p"
			continue
		fi
		targets=$(grep -E '^Fuzz' <<<"$listed" || true)
		for f in $targets; do
			nfuzz=$((nfuzz + 1))
			echo "-- $p $f"
			fuzz_one "$p" "$f" || fail "fuzz $p $f"
		done
	done
	echo "fuzz: $nfuzz targets run"
fi

echo
if ((${#failed[@]})); then
	printf 'test.sh: FAILED after %ss: %s\n' "$SECONDS" "${failed[*]}" >&2
	exit 1
fi
echo "test.sh: all checks passed in ${SECONDS}s"
