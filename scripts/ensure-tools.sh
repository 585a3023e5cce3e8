#!/usr/bin/env bash
# ensure-tools.sh: install the Debian packages esn's tests and benchmarks
# drive besides Prosody (which scripts/prosody.sh installs): go-sendxmpp, a
# real XMPP client without ESession support (the "peer without ESessions"
# integration test, and the plaintext baseline of scripts/bench.sh).
#
# Usage: scripts/ensure-tools.sh [PACKAGE...]   (default: go-sendxmpp)
#
# Packages already installed are left alone (naming an installed package to
# apt-get would upgrade it). Installing needs root or passwordless sudo;
# /usr/sbin/policy-rc.d blocks service starts while apt-get runs (as in
# scripts/prosody.sh), and the previous policy-rc.d is restored. One install
# at a time (flock), so parallel callers are safe. Exits 0 when everything is
# present afterwards.
set -euo pipefail

prog=ensure-tools.sh
die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

pkgs=("$@")
((${#pkgs[@]})) || pkgs=(go-sendxmpp)

# The command each package provides (to check without dpkg).
cmd_of() {
	case $1 in
	go-sendxmpp) echo go-sendxmpp ;;
	*) echo "$1" ;;
	esac
}

missing() {
	local out=() p
	for p in "${pkgs[@]}"; do
		command -v "$(cmd_of "$p")" >/dev/null 2>&1 || out+=("$p")
	done
	((${#out[@]})) && printf '%s\n' "${out[@]}"
	return 0
}

mapfile -t need < <(missing)
((${#need[@]})) || exit 0

sudo=""
if [[ $(id -u) != 0 ]]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo="sudo -n"
	else
		die "missing ${need[*]}, and installing needs root: run 'sudo apt-get install -y ${need[*]}' once"
	fi
fi
command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and apt-get is not available: install it by hand"

lock=/tmp/esn-apt-install.lock
exec {lockfd}>>"$lock"
flock -w 600 "$lockfd" || die "timed out waiting for another install ($lock)"
mapfile -t need < <(missing)
((${#need[@]})) || exit 0

policy=/usr/sbin/policy-rc.d
backup=""
restore() {
	if [[ -n $backup ]]; then
		$sudo mv -f "$backup" "$policy"
	else
		$sudo rm -f "$policy"
	fi
}
if [[ -e $policy ]]; then
	backup=$policy.esn-backup.$$
	$sudo cp -p "$policy" "$backup"
fi
trap restore EXIT
printf '#!/bin/sh\n# written by esn scripts/ensure-tools.sh during apt-get install\nexit 101\n' |
	$sudo tee "$policy" >/dev/null
$sudo chmod 0755 "$policy"

t0=$SECONDS
note "installing ${need[*]} with apt-get"
apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)
if ! apt-cache policy "${need[@]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	"${apt[@]}" update >&2
fi
if ! "${apt[@]}" install --no-install-recommends "${need[@]}" >&2; then
	note "apt-get install failed; updating package lists and retrying"
	"${apt[@]}" update >&2
	"${apt[@]}" install --no-install-recommends "${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
fi
mapfile -t still < <(missing)
((${#still[@]})) && die "installed, but still not in PATH: ${still[*]}"
note "installed ${need[*]} in $((SECONDS - t0)) s"
