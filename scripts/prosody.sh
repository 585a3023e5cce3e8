#!/usr/bin/env bash
# prosody.sh: a throwaway Prosody XMPP server on loopback for esn's tests and demo.
#
# Usage:
#   scripts/prosody.sh start DIR    install (once), configure and start; print the PID
#   scripts/prosody.sh stop DIR     stop the server started in DIR (only that PID)
#   scripts/prosody.sh status DIR   exit 0 and print the PID if it runs, exit 3 if not
#   scripts/prosody.sh adduser DIR USER <PASSWORD
#                                   create (or reset) an account; the password is the
#                                   first line of stdin (default USER-pw)
#
# Everything lives in DIR: prosody.cfg.lua, data/, prosody.log, the pid file, a
# self-signed certificate (certs/DOMAIN.crt, also the CA to trust) and esn.env,
# a shell file to source:
#
#   . DIR/esn.env
#   ESN_ACCOUNT=alice@localhost ESN_PASSWORD=alice-pw esn probe bob@localhost
#
# The server listens on 127.0.0.1 only: a c2s port with optional STARTTLS (plain
# text and PLAIN authentication are allowed, for loopback tests) and a direct-TLS
# port (XEP-0368). Users alice, bob and carol (password <user>-pw) are mutual
# roster contacts with presence subscriptions both ways (mod_groups); eve is a
# stranger on nobody's roster.
#
# If prosody is missing, start installs it with apt-get (as root, or via sudo -n),
# with /usr/sbin/policy-rc.d blocking the package's system-wide service while it
# installs; the previous policy-rc.d, if any, is restored.
#
# Environment (all optional):
#   ESN_DOMAIN               XMPP domain (default localhost)
#   ESN_PROSODY_PORT         c2s port (default 5222; "auto" picks a free one)
#   ESN_PROSODY_TLS_PORT     direct-TLS port (default c2s port + 1; "auto" with auto)
#   ESN_TEST_USERS           roster-group users (default "alice bob carol")
#   ESN_TEST_STRANGERS       users on nobody's roster (default "eve"; may be empty)
#   ESN_TEST_PASSWORD_<USER> password of <user>, e.g. ESN_TEST_PASSWORD_ALICE
#                            (default <user>-pw)
#   ESN_PROSODY_NO_MAM=1     do not load mod_mam (throughput runs)
#   ESN_PROSODY_LOG_LEVEL    minimum log level: debug, info (default), warn, error
#   ESN_PROSODY_OWNER_PID    stop the server once this process has exited
#   ESN_PROSODY_OWNER_RMDIR=1  with OWNER_PID: also remove DIR after stopping
set -euo pipefail

prog=prosody.sh
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
plugin_dir=$script_dir/prosody/plugins

die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

usage() {
	printf 'usage: %s start DIR | stop DIR | status DIR | adduser DIR USER <password\n' "$0" >&2
	exit 64
}

# now_ms prints a monotonic-enough clock in milliseconds.
now_ms() {
	local s=${EPOCHREALTIME/./}
	printf '%s' "${s:0:-3}"
}

# shq quotes $1 for a POSIX shell (single quotes).
shq() {
	local q="'\\''"
	printf "'%s'" "${1//\'/$q}"
}

# luaq quotes $1 as a Lua string literal.
luaq() {
	local s=$1
	[[ $s != *$'\n'* ]] || die "value contains a newline: $(shq "$s")"
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# ---------------------------------------------------------------- processes

# alive PID: the process exists and is not a zombie.
alive() {
	local pid=$1 stat state
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	{ IFS= read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
	state=${stat##*) } # "pid (comm) S ...": comm may hold spaces and parentheses
	state=${state%% *}
	[[ -n $state && $state != Z && $state != X ]]
}

# starttime PID: the process's start time (clock ticks after boot), which
# tells a process from a later one that reuses its PID.
starttime() {
	local stat rest f
	{ IFS= read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	read -r -a f <<<"$rest"
	printf '%s' "${f[19]}" # field 22 of stat; rest starts at field 3
}

# ours PID: the process is the prosody started with this DIR's config.
ours() {
	local pid=$1
	alive "$pid" || return 1
	local cl
	cl=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $'\n'$cl$'\n' == *$'\n'"$cfg"$'\n'* ]]
}

# wait_gone PID SECONDS: poll until PID is gone; 0 if it went.
wait_gone() {
	local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
	while alive "$pid"; do
		(($(now_ms) < deadline)) || return 1
		sleep 0.02
	done
}

running_pid() {
	local pid
	[[ -r $dir/server.pid ]] || return 1
	pid=$(<"$dir/server.pid")
	ours "$pid" || return 1
	printf '%s' "$pid"
}

# ---------------------------------------------------------------- ports

# listeners PORT: print the TCP listening sockets on PORT (any address), one per line.
listeners() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v port="$hex" 'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[length(a)] == port) print $2 " inode " $10 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null || true
}

# listen_inode PORT: inode of the socket listening on 127.0.0.1:PORT.
listen_inode() {
	local hex
	hex=$(printf '0100007F:%04X' "$1")
	awk -v addr="$hex" 'FNR > 1 && $4 == "0A" && $2 == addr { print $10; exit }' /proc/net/tcp 2>/dev/null
}

# owns PID INODE: PID holds socket INODE.
owns() {
	[[ -n $2 ]] || return 1
	[[ -n $(find "/proc/$1/fd" -lname "socket:\[$2\]" -print -quit 2>/dev/null) ]]
}

check_port_free() {
	local port=$1 what=$2 l who=""
	l=$(listeners "$port")
	[[ -z $l ]] && return 0
	if command -v ss >/dev/null 2>&1; then
		who=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n '1s/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p') || who=""
	fi
	die "$what port $port is already in use${who:+ by $who}; stop that server or set ${3} to another port (or to auto)"
}

# free_port [EXCLUDE]: a port nobody listens on, below the ephemeral range.
free_port() {
	local lo hi p i
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	hi=$((lo - 1))
	((hi > 20000)) || hi=65000
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (hi - 10000)))
		[[ $p == "${1:-}" ]] && continue
		[[ -z $(listeners "$p") ]] && {
			printf '%s' "$p"
			return 0
		}
	done
	die "found no free TCP port"
}

# ---------------------------------------------------------------- install

installed() {
	command -v prosody >/dev/null 2>&1 && command -v prosodyctl >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1
}

policy=/usr/sbin/policy-rc.d
policy_backup=""
policy_ours=0
sudo=""

restore_policy() {
	((policy_ours)) || return 0
	if [[ -n $policy_backup ]]; then
		$sudo mv -f "$policy_backup" "$policy"
	else
		$sudo rm -f "$policy"
	fi
	policy_ours=0
}

ensure_installed() {
	installed && return 0
	sudo=""
	if [[ $(id -u) != 0 ]]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo="sudo -n"
		else
			die "prosody is not installed and installing it needs root: run 'sudo apt-get install -y prosody openssl' once"
		fi
	fi
	command -v apt-get >/dev/null 2>&1 || die "prosody is not installed and apt-get is not available: install prosody 0.12 by hand"

	# One installer at a time (parallel test packages may all get here).
	local lock=/tmp/esn-prosody-install.lock t0
	exec {lockfd}>>"$lock"
	flock -w 600 "$lockfd" || die "timed out waiting for another prosody install ($lock)"
	if installed; then
		exec {lockfd}>&-
		return 0
	fi
	t0=$(now_ms)

	# Keep the package from starting a system-wide server (Debian's invoke-rc.d
	# asks policy-rc.d; 101 = action forbidden).
	if [[ -e $policy ]]; then
		policy_backup=$policy.esn-backup.$$
		$sudo cp -p "$policy" "$policy_backup"
	fi
	policy_ours=1
	trap 'restore_policy' EXIT
	printf '#!/bin/sh\n# written by esn scripts/prosody.sh during apt-get install\nexit 101\n' |
		$sudo tee "$policy" >/dev/null
	$sudo chmod 0755 "$policy"

	local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)
	local pkgs=(prosody)
	# Only add openssl when missing: naming an installed package upgrades it.
	command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
	note "installing ${pkgs[*]} with apt-get (once per machine)"
	# Update the package lists only if they do not know prosody (or on failure below).
	local policy_out
	policy_out=$(apt-cache policy prosody 2>/dev/null || true)
	if [[ $policy_out != *"Candidate: "[0-9]* ]]; then
		"${apt[@]}" update >&2
	fi
	if ! "${apt[@]}" install --no-install-recommends "${pkgs[@]}" >&2; then
		note "apt-get install failed; updating package lists and retrying"
		"${apt[@]}" update >&2
		"${apt[@]}" install --no-install-recommends "${pkgs[@]}" >&2 || die "apt-get install prosody failed"
	fi
	restore_policy
	trap - EXIT
	exec {lockfd}>&-
	installed || die "prosody installed but prosody/prosodyctl not found in PATH"
	note "installed prosody $(dpkg-query -W -f '${Version}' prosody 2>/dev/null) in $(($(now_ms) - t0)) ms"
}

# ---------------------------------------------------------------- config

validate_settings() {
	domain=${ESN_DOMAIN:-localhost}
	[[ $domain =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "ESN_DOMAIN $(shq "$domain") is not a lowercase DNS name"
	port=${ESN_PROSODY_PORT:-5222}
	[[ $port == 0 ]] && port=auto
	if [[ $port == auto ]]; then
		auto_ports=1
		tls_port=${ESN_PROSODY_TLS_PORT:-auto}
	else
		auto_ports=0
		[[ $port =~ ^[1-9][0-9]{0,4}$ ]] && ((port < 65536)) || die "ESN_PROSODY_PORT $(shq "$port") is not a port number"
		tls_port=${ESN_PROSODY_TLS_PORT:-$((port + 1))}
	fi
	[[ $tls_port == 0 ]] && tls_port=auto
	if [[ $tls_port == auto ]]; then
		auto_ports=1
	else
		[[ $tls_port =~ ^[1-9][0-9]{0,4}$ ]] && ((tls_port < 65536)) || die "ESN_PROSODY_TLS_PORT $(shq "$tls_port") is not a port number"
	fi
	[[ $port != "$tls_port" || $port == auto ]] || die "c2s and direct-TLS ports are both $port"
	auto_c2s=0 auto_tls=0
	[[ $port == auto ]] && auto_c2s=1
	[[ $tls_port == auto ]] && auto_tls=1

	read -r -a users <<<"${ESN_TEST_USERS-alice bob carol}"
	read -r -a strangers <<<"${ESN_TEST_STRANGERS-eve}"
	((${#users[@]} > 0)) || die "ESN_TEST_USERS is empty"
	local u v seen=" "
	for u in "${users[@]}" "${strangers[@]}"; do
		[[ $u =~ ^[a-z0-9]+$ ]] || die "test user name $(shq "$u") must be lowercase letters and digits"
		[[ $seen != *" $u "* ]] || die "test user $u is listed twice"
		seen+="$u "
		v=ESN_TEST_PASSWORD_${u^^}
		[[ -n ${!v-x} ]] || die "$v is empty"
	done

	case ${ESN_PROSODY_LOG_LEVEL:-info} in
	debug | info | warn | error) log_level=${ESN_PROSODY_LOG_LEVEL:-info} ;;
	*) die "ESN_PROSODY_LOG_LEVEL must be debug, info, warn or error" ;;
	esac
	mam=1
	[[ ${ESN_PROSODY_NO_MAM:-0} =~ ^(1|true|yes)$ ]] && mam=0
	return 0
}

password_of() {
	local v=ESN_TEST_PASSWORD_${1^^}
	printf '%s' "${!v-$1-pw}"
}

make_cert() {
	local crt=$dir/certs/$domain.crt key=$dir/certs/$domain.key stamp=$dir/certs/.esn-cert
	local now want exp
	now=${EPOCHSECONDS}
	# The stamp holds "domain expiry-epoch": reuse a certificate valid for another day.
	if [[ -s $crt && -s $key && -r $stamp ]] && read -r want exp <"$stamp" &&
		[[ $want == "$domain" && $exp =~ ^[0-9]+$ ]] && ((now + 86400 < exp)); then
		return 0
	fi
	mkdir -p "$dir/certs"
	chmod 0700 "$dir/certs"
	# ECDSA P-256: as good as RSA-2048 for TLS here and generated in milliseconds.
	# Go verifies names against subjectAltName only, so the SAN is required.
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 30 -subj "/CN=$domain" \
		-addext "subjectAltName=DNS:$domain,DNS:*.$domain,IP:127.0.0.1" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-keyout "$key.tmp" -out "$crt.tmp" >/dev/null 2>&1 || die "openssl could not make a certificate for $domain"
	chmod 0600 "$key.tmp"
	mv -f "$key.tmp" "$key"
	mv -f "$crt.tmp" "$crt"
	printf '%s %s\n' "$domain" "$((now + 30 * 86400))" >"$stamp"
}

write_config() {
	local u mods tmp=$cfg.tmp
	mods='"roster"; "saslauth"; "tls"; "disco"; "pep"; "offline"; "carbons"; "ping"; "private"; "groups";'
	((mam)) && mods+=' "mam"; "esn_archive_all";'
	# XEP-0136 message archiving (urn:xmpp:archive), which no packaged
	# server has: esn's own module in scripts/prosody/plugins.
	mods+=' "esn_archive136";'
	{
		printf -- '-- Written by esn scripts/prosody.sh; rewritten at every start.\n'
		printf -- '-- A throwaway test server on loopback: never use this config elsewhere.\n\n'
		(($(id -u) == 0)) && printf 'run_as_root = true\n'
		printf 'pidfile = %s\n' "$(luaq "$dir/prosody.pid")"
		printf 'data_path = %s\n' "$(luaq "$dir/data")"
		printf 'plugin_paths = { %s }\n' "$(luaq "$plugin_dir")"
		printf 'log = { { levels = { min = %s }, to = "file", filename = %s } }\n' "$(luaq "$log_level")" "$(luaq "$log")"
		printf 'certificates = %s\n' "$(luaq "$dir/certs")"
		printf 'ssl = { certificate = %s; key = %s; }\n' "$(luaq "$dir/certs/$domain.crt")" "$(luaq "$dir/certs/$domain.key")"
		cat <<-EOF

			interfaces = { "127.0.0.1" }
			local_interfaces = { "127.0.0.1" }
			c2s_ports = { $port }
			c2s_direct_tls_ports = { $tls_port }
			c2s_direct_tls_interfaces = { "127.0.0.1" }
			s2s_ports = { }
			component_ports = { }
			http_ports = { }
			https_ports = { }
			modules_disabled = { "s2s"; "s2s_auth_certs" }

			-- Optional STARTTLS, so plain-text tests work on loopback.
			c2s_require_encryption = false
			allow_unencrypted_plain_auth = true
			allow_registration = false
			-- Big enough to relay a stanza past esn's 1 MiB default bound (Prosody: 256 KiB).
			c2s_stanza_size_limit = 4194304
			-- Plain-text password storage, written by prosody.sh (test server only).
			authentication = "internal_plain"
			storage = "internal"

			modules_enabled = { $mods }
			groups_file = $(luaq "$dir/groups.txt")
			archive_expires_after = "never"
			default_archive_policy = true

			VirtualHost $(luaq "$domain")
		EOF
	} >"$tmp"
	mv -f "$tmp" "$cfg"

	# One mod_groups group: every member has every other on the roster with
	# subscription both. Strangers are in no group.
	tmp=$dir/groups.txt.tmp
	{
		printf '[esn-test]\n'
		for u in "${users[@]}"; do printf '%s@%s=%s\n' "$u" "$domain" "$u"; done
	} >"$tmp"
	mv -f "$tmp" "$dir/groups.txt"
}

# path_encode S: Prosody's datamanager file-name encoding (every byte that is
# not a letter or digit becomes %xx).
path_encode() {
	local s=$1 out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		if [[ $c == [A-Za-z0-9] ]]; then out+=$c; else out+=$(printf '%%%02x' "'$c"); fi
	done
	printf '%s' "$out"
}

# write_account USER PASSWORD: create or reset an account by writing it into
# Prosody's internal storage (authentication = internal_plain), which the
# server reads at each login. prosodyctl register does the same in about 0.1-0.4 s
# per user; this takes none.
write_account() {
	local user=$1 pw=$2 adir f
	[[ $pw != *[[:cntrl:]]* && -n $pw ]] || die "the password of $user is empty or has control characters"
	adir=$dir/data/$(path_encode "$domain")/accounts
	mkdir -p "$adir"
	f=$adir/$(path_encode "$user").dat
	printf 'return {\n\t["password"] = %s;\n};\n' "$(luaq "$pw")" >"$f.tmp"
	chmod 0600 "$f.tmp"
	mv -f "$f.tmp" "$f"
}

register_users() {
	local u
	for u in "${users[@]}" "${strangers[@]}"; do
		write_account "$u" "$(password_of "$u")"
	done
}

write_env() {
	local u tmp=$dir/esn.env.tmp
	{
		printf '# Written by esn scripts/prosody.sh start; source it: . %s\n' "$(shq "$dir/esn.env")"
		printf 'export ESN_SERVER=%s\n' "$(shq "127.0.0.1:$port")"
		printf 'export ESN_DIRECT_TLS_SERVER=%s\n' "$(shq "127.0.0.1:$tls_port")"
		printf 'export ESN_CA_FILE=%s\n' "$(shq "$dir/certs/$domain.crt")"
		printf 'export ESN_DOMAIN=%s\n' "$(shq "$domain")"
		printf 'export ESN_PROSODY_DIR=%s\n' "$(shq "$dir")"
		printf 'export ESN_PROSODY_CONFIG=%s\n' "$(shq "$cfg")"
		printf 'export ESN_PROSODY_LOG=%s\n' "$(shq "$log")"
		printf 'export ESN_PROSODY_PID=%s\n' "$(shq "$pid")"
		printf 'export ESN_PROSODY_MAM=%s\n' "$(shq "$mam")"
		printf 'export ESN_TEST_USERS=%s\n' "$(shq "${users[*]}")"
		printf 'export ESN_TEST_STRANGERS=%s\n' "$(shq "${strangers[*]}")"
		for u in "${users[@]}" "${strangers[@]}"; do
			printf 'export ESN_TEST_PASSWORD_%s=%s\n' "${u^^}" "$(shq "$(password_of "$u")")"
		done
	} >"$tmp"
	chmod 0600 "$tmp"
	mv -f "$tmp" "$dir/esn.env"
}

# ---------------------------------------------------------------- readiness

stream_header() {
	printf "<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" "$domain"
}

# read_features FD: read the server's stream header and features from FD;
# succeed if they came from $domain.
read_features() {
	local fd=$1 part reply="" i
	for ((i = 0; i < 200; i++)); do
		IFS= read -r -d '>' -t 2 -u "$fd" part || return 1
		reply+="$part>"
		[[ $reply == *"</stream:features>"* || $reply == *"<stream:features/>"* ]] && break
	done
	[[ $reply =~ \<stream:stream[^\>]*from=[\'\"]${domain//./\\.}[\'\"] ]]
}

probe_c2s() {
	local fd ok=1
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
	stream_header >&"$fd" 2>/dev/null && read_features "$fd" && ok=0
	printf '</stream:stream>' >&"$fd" 2>/dev/null || true
	exec {fd}>&-
	return "$ok"
}

probe_tls() {
	local ok=1 cpid
	coproc TLS { exec openssl s_client -quiet -connect "127.0.0.1:$tls_port" -servername "$domain" \
		-verify_hostname "$domain" -CAfile "$dir/certs/$domain.crt" -verify_return_error 2>/dev/null; }
	cpid=$TLS_PID
	if stream_header >&"${TLS[1]}" 2>/dev/null && read_features "${TLS[0]}"; then
		ok=0
	fi
	kill "$cpid" 2>/dev/null || true
	wait "$cpid" 2>/dev/null || true
	return "$ok"
}

# wait_ready: 0 ready; 1 failed (message printed); 2 a port was taken meanwhile.
wait_ready() {
	local deadline=$(($(now_ms) + 15000)) c2s_ok=0
	while :; do
		if grep -qF 'Failed to open server port' "$log" 2>/dev/null; then
			grep -m2 -F 'Failed to open server port' "$log" | sed "s/^/$prog: log: /" >&2 || true
			return 2
		fi
		if ! alive "$pid"; then
			note "prosody (pid $pid) exited during start; the end of its log:"
			tail -n 20 "$log" "$dir/prosody.stdout" 2>/dev/null | sed "s/^/  /" >&2
			return 1
		fi
		if ((!c2s_ok)) && owns "$pid" "$(listen_inode "$port")" && owns "$pid" "$(listen_inode "$tls_port")" && probe_c2s; then
			c2s_ok=1
		fi
		if ((c2s_ok)) && probe_tls; then
			return 0
		fi
		if (($(now_ms) > deadline)); then
			note "prosody (pid $pid) did not answer XMPP on 127.0.0.1:$port and 127.0.0.1:$tls_port within 15 s; the end of its log:"
			tail -n 20 "$log" 2>/dev/null | sed "s/^/  /" >&2
			return 1
		fi
		sleep 0.03
	done
}

# ---------------------------------------------------------------- commands

stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" 10; then
		note "prosody (pid $pid) did not stop within 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 5 || die "could not stop prosody (pid $pid)"
	fi
}

# The watcher is this script run as "_watch DIR OWNER PID": a separate
# process whose command line names it exactly.
start_watcher() {
	local owner=${ESN_PROSODY_OWNER_PID:-}
	[[ -n $owner ]] || return 0
	[[ $owner =~ ^[0-9]+$ ]] || die "ESN_PROSODY_OWNER_PID must be a process id"
	ESN_PROSODY_OWNER_RMDIR=${ESN_PROSODY_OWNER_RMDIR:-0} \
		bash "$script_dir/prosody.sh" _watch "$dir" "$owner" "$pid" </dev/null >/dev/null 2>&1 {dirlock}>&- &
	printf '%s\n' "$!" >"$dir/watcher.pid"
}

cmd__watch() {
	local owner=$1 pid=$2 since
	trap '' INT HUP
	since=$(starttime "$owner") || since=gone
	while alive "$owner" && [[ $(starttime "$owner") == "$since" ]] && ours "$pid"; do sleep 0.5; done
	ours "$pid" || return 0 # stopped by someone else (stop kills us first, normally)
	ESN_PROSODY_OWNER_PID="" "$script_dir/prosody.sh" stop "$dir" || true
	if [[ ${ESN_PROSODY_OWNER_RMDIR:-0} == 1 && -f $cfg && ! -e $dir/server.pid ]]; then
		rm -rf -- "$dir"
	fi
}

stop_watcher() {
	local w
	[[ -r $dir/watcher.pid ]] || return 0
	w=$(<"$dir/watcher.pid")
	rm -f "$dir/watcher.pid"
	# The watcher runs this script to stop the server: do not kill the caller.
	[[ $w == "$PPID" ]] && return 0
	local cl=""
	alive "$w" && cl=$(tr '\0' ' ' <"/proc/$w/cmdline" 2>/dev/null) || true
	if [[ $cl == *"prosody.sh _watch $dir "* ]]; then
		kill "$w" 2>/dev/null || true
	fi
}

cmd_start() {
	local t0 pid attempt rc
	t0=$(now_ms)
	validate_settings
	if pid=$(running_pid); then
		note "already running in $dir (pid $pid); . $dir/esn.env"
		printf '%s\n' "$pid"
		return 0
	fi
	ensure_installed
	command -v prosody >/dev/null || die "prosody not found"
	mkdir -p "$dir/data"
	chmod 0700 "$dir" "$dir/data"
	rm -f "$dir/server.pid" "$dir/esn.env" "$dir/prosody.pid"
	make_cert

	for attempt in 1 2 3 4 5; do
		if ((auto_ports)); then
			((auto_c2s)) && port=$(free_port "$tls_port")
			((auto_tls)) && tls_port=$(free_port "$port")
		fi
		check_port_free "$port" c2s ESN_PROSODY_PORT
		check_port_free "$tls_port" direct-TLS ESN_PROSODY_TLS_PORT
		write_config
		register_users
		[[ -f $log ]] && mv -f "$log" "$log.old"
		: >"$log"
		prosody --config "$cfg" -F </dev/null >>"$dir/prosody.stdout" 2>&1 {dirlock}>&- &
		pid=$!
		printf '%s\n' "$pid" >"$dir/server.pid"
		rc=0
		wait_ready || rc=$?
		((rc == 0)) && break
		stop_pid "$pid"
		rm -f "$dir/server.pid"
		if ((rc == 2 && auto_ports && attempt < 5)); then
			note "a port was taken while starting; retrying with other ports"
			continue
		fi
		((rc == 2)) && die "port 127.0.0.1:$port or :$tls_port is already in use (see $log); set ESN_PROSODY_PORT / ESN_PROSODY_TLS_PORT"
		die "prosody did not start; full log: $log"
	done
	write_env
	start_watcher
	note "prosody pid $pid ready in $(($(now_ms) - t0)) ms: c2s 127.0.0.1:$port (STARTTLS optional), direct TLS 127.0.0.1:$tls_port, domain $domain, mam $( ((mam)) && echo on || echo off)"
	note "users: ${users[*]} (mutual contacts)${strangers[*]:+; strangers: ${strangers[*]}}; environment: . $dir/esn.env"
	printf '%s\n' "$pid"
}

cmd_stop() {
	local pid
	stop_watcher
	if ! pid=$(running_pid); then
		rm -f "$dir/server.pid"
		note "not running in $dir"
		return 0
	fi
	stop_pid "$pid"
	rm -f "$dir/server.pid"
	note "stopped prosody (pid $pid)"
}

cmd_adduser() {
	local user=$1 pw=""
	[[ $user =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "user name $(shq "$user") must be lowercase letters, digits, '.', '_' or '-'"
	[[ -r $dir/esn.env ]] || die "no server was started in $dir (no esn.env)"
	domain=$(. "$dir/esn.env" && printf '%s' "$ESN_DOMAIN")
	[[ -t 0 ]] || IFS= read -r pw || true
	[[ -n $pw ]] || pw=$user-pw
	write_account "$user" "$pw"
	note "account $user@$domain ready"
}

cmd_status() {
	local pid
	if pid=$(running_pid); then
		note "running in $dir (pid $pid); . $dir/esn.env"
		printf '%s\n' "$pid"
		return 0
	fi
	note "not running in $dir"
	return 3
}

cmd=${1:-}
case $cmd in
start | stop | status) (($# == 2)) || usage ;;
adduser) (($# == 3)) || usage ;;
_watch) (($# == 4)) || usage ;;
*) usage ;;
esac
[[ -n $2 ]] || usage
if [[ $cmd == start ]]; then
	mkdir -p -- "$2"
fi
if [[ ! -d $2 ]]; then
	[[ $cmd == adduser ]] && die "no such directory: $2"
	note "not running in $2 (no such directory)"
	[[ $cmd == status ]] && exit 3
	exit 0
fi
dir=$(cd -- "$2" && pwd -P)
cfg=$dir/prosody.cfg.lua
log=$dir/prosody.log

# One start/stop at a time per DIR.
if [[ $cmd != _watch ]]; then
	exec {dirlock}>>"$dir/.lock"
	flock -w 60 "$dirlock" || die "another prosody.sh is busy with $dir"
fi

"cmd_$cmd" "${@:3}"
