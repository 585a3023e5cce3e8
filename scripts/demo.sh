#!/usr/bin/env bash
# demo.sh: a tour of esn on a throwaway Prosody server on 127.0.0.1.
#
# Usage: scripts/demo.sh
#
# Builds esn, starts a private server with scripts/prosody.sh (installing
# Prosody with apt-get if it is missing), and shows, as alice and bob:
#   1. esn probe: which ESession features bob's esn advertises
#   2. esn send / esn receive: a negotiated, encrypted, acknowledged exchange,
#      with the short authentication string (SAS) both sides see
#   3. esn sas confirm and esn sessions: the retained-secret chain, verified
#      on the next session without a new comparison
#   4. esn keys: publish a public key, fetch and trust it, and a session
#      authenticated by keys (3-message SIGMA-I)
#   5. esn decode: the negotiation captured in step 2 re-checked step by step
#   6. esn offline: bob writes to alice while she is offline (XEP-0187)
#   7. esn archive: bob keeps a conversation in his server's archive,
#      encrypted to his own key (XEP-0136, XEP-0241)
# Everything (server, state, logs) lives in a temporary directory that is
# removed at the end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/esn-demo.XXXXXX")
receiver=
cleanup() {
	[[ -n $receiver ]] && kill "$receiver" 2>/dev/null && wait "$receiver" 2>/dev/null
	"$root/scripts/prosody.sh" stop "$work/server" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
	bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
else
	bold= dim= off=
fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; }

say "building esn"
go build -o "$work/esn" ./cmd/esn
export PATH=$work:$PATH
esn version

say "starting a throwaway Prosody on 127.0.0.1"
ESN_PROSODY_PORT=auto "$root/scripts/prosody.sh" start "$work/server" >/dev/null
# shellcheck disable=SC1091
. "$work/server/esn.env"
echo "server $ESN_SERVER, domain $ESN_DOMAIN, accounts alice, bob, carol"
alice=alice@$ESN_DOMAIN bob=bob@$ESN_DOMAIN

# as USER CMD...: run esn as USER with their own state directory.
as() {
	local user=$1
	shift
	ESN_ACCOUNT=$user@$ESN_DOMAIN ESN_PASSWORD=$user-pw ESN_STATE_DIR=$work/state-$user "$@"
}

start_receiver() {
	as bob esn receive --json --resource demo --from "$alice" "$@" >"$work/bob.out" 2>"$work/bob.err" &
	receiver=$!
	for _ in $(seq 100); do
		grep -q '"event":"ready"' "$work/bob.out" 2>/dev/null && return
		sleep 0.1
	done
	cat "$work/bob.err" >&2
	echo "demo: bob's esn receive did not become ready" >&2
	exit 1
}
stop_receiver() {
	wait "$receiver" || true
	receiver=
}

say "1. bob runs esn receive; alice asks what his client supports"
start_receiver --count 2
show "esn probe $bob/demo"
as alice esn probe "$bob/demo"

say "2. alice sends two lines, encrypted; bob prints what he decrypted"
show "printf 'hello bob\nthe build is green\n' | esn send --lines $bob"
printf 'hello bob\nthe build is green\n' |
	as alice esn --trace --keylog "$work/keys.log" send --lines --auth sas --json "$bob" 2>"$work/trace.log" |
	tee "$work/alice.out"
stop_receiver
show "bob's esn receive --json output"
cat "$work/bob.out"
sas=$(sed -n 's/.*"sas":"\([^"]*\)".*/\1/p' "$work/alice.out" | head -1)
echo "alice saw SAS '$sas'; bob saw SAS '$(sed -n 's/.*"event":"message".*"sas":"\([^"]*\)".*/\1/p' "$work/bob.out" | head -1)'"

say "3. they compared the SAS by phone: both confirm it; the next session is verified"
show "esn sas confirm $bob"
as alice esn sas confirm "$bob"
as bob esn sas confirm "$alice"
start_receiver --count 1
as alice esn send --auth sas --json "$bob" 'second session: no new SAS comparison needed' >"$work/alice2.out"
stop_receiver
cat "$work/alice2.out"
show "esn sessions"
as alice esn sessions

say "4. public keys: alice publishes hers, bob fetches and trusts it"
show "esn keys generate --bits 2048 && esn keys publish"
as alice esn keys generate --bits 2048
as alice esn keys publish
as bob esn keys generate --bits 2048
as bob esn keys publish
fp_alice=$(as alice esn keys list --json | sed -n 's/.*"fingerprint":"\([^"]*\)".*/\1/p' | head -1)
fp_bob=$(as bob esn keys list --json | sed -n 's/.*"fingerprint":"\([^"]*\)".*/\1/p' | head -1)
show "esn keys fetch $alice   (as bob)"
as bob esn keys fetch "$alice"
as bob esn keys trust "$alice" "$fp_alice"
as alice esn keys trust "$bob" "$fp_bob"
start_receiver --count 1 --auth key
show "esn send --auth key $bob 'signed and sealed'   (3 messages: SIGMA-I)"
as alice esn send --auth key --json "$bob" 'signed and sealed' >"$work/alice3.out"
stop_receiver
cat "$work/alice3.out"
grep '"event":"message"' "$work/bob.out"

say "5. esn decode: the session of step 2, captured with --trace, re-checked with the key log"
show "esn decode --keylog keys.log trace.log"
esn decode --keylog "$work/keys.log" "$work/trace.log" >"$work/decode.out"
head -n 80 "$work/decode.out"
lines=$(wc -l <"$work/decode.out")
((lines <= 80)) || echo "... ($lines lines in all)"

say "6. offline sessions: alice publishes signed options and leaves; bob writes anyway"
show "esn offline publish   (alice)"
as alice esn offline publish
show "esn send --offline $alice 'read this when you are back'   (bob; alice has no client online)"
as bob esn send --offline "$alice" 'read this when you are back'
show "esn receive --count 1   (alice, back online: the server hands over what it stored)"
as alice esn receive --json --count 1 --timeout 30s | grep '"event":"message"'

say "7. archives: bob keeps a conversation, encrypted to his own key"
as bob esn receive --json --resource demo --from "$alice" --count 1 --logging may,mustnot --archive \
	>"$work/bob.out" 2>"$work/bob.err" &
receiver=$!
for _ in $(seq 100); do
	grep -q '"event":"ready"' "$work/bob.out" 2>/dev/null && break
	sleep 0.1
done
show "esn send --logging may $bob 'worth keeping'   (logging allowed: not off the record)"
as alice esn send --logging may "$bob" 'worth keeping'
stop_receiver
show "esn archive list   (bob)"
as bob esn archive list
start=$(as bob esn archive list --json | sed -n 's/.*"start":"\([^"]*\)".*/\1/p' | tail -1)
with=$(as bob esn archive list --json | sed -n 's/.*"with":"\([^"]*\)".*/\1/p' | tail -1)
show "esn archive get $with $start   (decrypted with bob's private key)"
as bob esn archive get "$with" "$start"

say "done: everything ran on a private server in $work, now removed"
