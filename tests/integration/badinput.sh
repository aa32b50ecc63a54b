#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad input from issue 3: bad modules, missing or ambiguous tokens, pulled tokens, bad PINs, bad state, bad certificates.

. "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- modules

# A module path that does not exist: exit 1, and the message names the path.
module_path_missing() {
	local missing=$T/no-such-dir/libnope-pkcs11.so
	make_token
	run "$UKEY_BIN" --module "$missing" --state-dir "$STATE" list
	expect_rc 1
	assert_contains "$ERR" "$missing" "error message"
	run "$UKEY_BIN" --module "$missing" --state-dir "$STATE" list --json
	expect_rc 1
	assert_json .error.id '"module-load"'
	assert_contains "$(jq -r .error.message <<<"$OUT")" "$missing" "JSON error.message"
	run -i "$PIN"$'\n' "$UKEY_BIN" --module "$missing" --state-dir "$STATE" pin verify
	expect_rc 1
}

# A file that is not a PKCS#11 module: exit 1, named.
module_not_pkcs11_text_file() {
	make_token
	run "$UKEY_BIN" --module /etc/passwd --state-dir "$STATE" list
	expect_rc 1
	assert_contains "$ERR" "/etc/passwd" "error message"
	run "$UKEY_BIN" --module /etc/passwd --state-dir "$STATE" pin status --json
	expect_rc 1
	assert_json .error.id '"module-load"'
}

# A real shared library that is not a PKCS#11 module (the C library this shell runs on): exit 1.
module_not_pkcs11_shared_library() {
	local libc
	libc=$(grep -m1 -o '/[^ ]*/libc\.so\.6$' /proc/self/maps) || die "cannot find libc.so.6 in /proc/self/maps"
	[[ -r $libc ]] || die "libc '$libc' is not readable"
	make_token
	run "$UKEY_BIN" --module "$libc" --state-dir "$STATE" list
	expect_rc 1
	assert_contains "$ERR" "$libc" "error message"
	run "$UKEY_BIN" --module "$libc" --state-dir "$STATE" certs --json
	expect_rc 1
	assert_json .error.id '"module-load"'
}

# ---------------------------------------------------------------- which token

# No token at all (SoftHSM2 with an empty token dir shows only its blank spare
# slot): PIN commands exit 5, `ukey list` exits 0 and says so.
no_token() {
	run ukey pin status
	expect_rc 5
	run ukey pin status --json
	expect_rc 5
	assert_json .error.id '"no-token"'
	verify "$PIN"
	expect_rc 5
	run ukey list
	expect_rc 0
	assert_contains "$OUT" "No USB key" "ukey list without a token"
	run ukey list --json
	expect_rc 0
	assert_json .tokens '[]'
}

# Two tokens and no --token: a PIN command cannot guess (exit 2); nothing reaches a token.
two_tokens_need_token_option() {
	make_token --label first
	make_token --label second
	use_counting
	run ukey pin status
	expect_rc 2
	run ukey pin status --json
	expect_rc 2
	assert_json .error.id '"token-ambiguous"'
	verify "$PIN"
	expect_rc 2
	assert_logins 0 "verify without --token among two tokens"
	run ukey list --json
	expect_rc 0
	assert_json '.tokens | length' 2
}

# --token naming a label two tokens share is ambiguous (exit 2).
ambiguous_label() {
	make_token --label twin
	make_token --label twin
	use_counting
	run ukey pin status --token twin
	expect_rc 2
	verify "$PIN" --token twin
	expect_rc 2
	assert_logins 0 "verify with an ambiguous --token"
}

# --token naming nothing inserted: exit 5, named in the message.
unknown_token() {
	make_token
	run ukey pin status --token no-such-key
	expect_rc 5
	assert_contains "$ERR" "no-such-key" "error message"
	run ukey pin status --token no-such-key --json
	expect_rc 5
	assert_json .error.id '"token-not-found"'
	run ukey certs --token 0123456789abcdef
	expect_rc 5
}

# When labels repeat, --token SERIAL picks exactly one, and each serial has its own count.
serial_selects_when_labels_repeat() {
	local first second
	make_token --label twin
	first=$SERIAL
	make_token --label twin
	second=$SERIAL
	status_json --token "$first"
	assert_json .serial "\"$first\""
	verify "$WRONG" --token "$first"
	expect_rc 3
	expect_tries 9 --token "$first"
	expect_tries 10 --token "$second"
	verify "$PIN" --token "$second"
	expect_rc 0
	assert_contains "$OUT" "$second" "verify output"
	expect_tries 9 --token "$first"
}

# ---------------------------------------------------------------- pulled tokens
#
# SoftHSM2 keeps a token as a directory under its tokendir, named by a UUID
# whose last 16 hex digits are the serial. Moving that directory away is
# "pulling" the token: a process that already called C_Initialize still lists
# the slot, but C_GetTokenInfo and C_Login on it answer CKR_GENERAL_ERROR (not
# CKR_TOKEN_NOT_PRESENT / CKR_DEVICE_REMOVED), and C_OpenSession still
# succeeds; a process started afterwards does not see the token at all.
# Moving the directory back is re-inserting it (same serial).

# pull SERIAL / reinsert SERIAL
pull() {
	PULLED_DIR=$(token_dir "$1")
	mv "$PULLED_DIR" "$T/pulled-token"
}
reinsert() {
	mv "$T/pulled-token" "$PULLED_DIR"
}

# start_verify_waiting_for_pin ARGS...: starts `ukey pin verify ARGS` with its
# stdin a fifo, and returns once it has chosen its token and waits for the PIN.
# The PIN goes in with give_pin.
start_verify_waiting_for_pin() {
	local i syscall
	mkfifo "$T/pin-fifo"
	"$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" pin verify "$@" <"$T/pin-fifo" >"$T/bg.out" 2>"$T/bg.err" &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
	exec {PIN_FD}>"$T/pin-fifo"
	# The state db appears after the token is chosen, just before the PIN is read.
	for ((i = 0; i < 250; i++)); do
		[[ -e $STATE/state.db ]] && break
		kill -0 "$BG_PID" 2>/dev/null || fail "ukey pin verify ended before asking for the PIN: $(cat "$T/bg.err")"
		sleep 0.02
	done
	[[ -e $STATE/state.db ]] || fail "ukey pin verify did not get to the PIN within 5 s"
	# Blocked in read(0, …) is syscall 0 with first argument 0 (x86-64); where
	# /proc does not tell, a short pause does.
	for ((i = 0; i < 100; i++)); do
		syscall=$(cat "/proc/$BG_PID/syscall" 2>/dev/null) || break
		[[ $syscall == "0 0x0 "* ]] && return 0
		sleep 0.01
	done
	sleep 0.2
}

# give_pin PIN: writes the PIN line, closes the fifo and waits; sets RC, OUT, ERR.
give_pin() {
	printf '%s\n' "$1" >&"$PIN_FD"
	exec {PIN_FD}>&-
	RC=0
	wait "$BG_PID" || RC=$?
	BG_PIDS=()
	OUT=$(cat "$T/bg.out")
	ERR=$(cat "$T/bg.err")
	LAST_CMD="ukey pin verify (PIN given after the token was pulled)"
	printf '+ %s  => exit %s\n' "$LAST_CMD" "$RC"
}

# The token is pulled after ukey chose it and before the PIN goes to it: exit 5
# (the key was removed), and no try is lost or made up: the store counts at
# least every login that reached the module (here: none reached it).
token_pulled_between_list_and_login() {
	local counted
	make_token
	use_counting
	run ukey list --json
	assert_json '[.tokens[].serial]' "[\"$SERIAL\"]"
	start_verify_waiting_for_pin --token "$SERIAL"
	pull "$SERIAL"
	give_pin "$PIN"
	reinsert
	printf 'pulled before the login: exit %s, %s C_Login reached the module\n' "$RC" "$(logins)"
	local rc=$RC out=$OUT err=$ERR
	status_json --token "$SERIAL"
	counted=$((10 - $(jq .tries_left <<<"$OUT")))
	printf 'the store counted %s tries for it\n' "$counted"
	((counted >= $(logins))) || fail "$(logins) logins reached the module but the store counted $counted"
	RC=$rc OUT=$out ERR=$err LAST_CMD="ukey pin verify (PIN given after the token was pulled)"
	expect_rc 5
	assert_contains "$ERR" "removed" "message for a key pulled before the login"
}

# The token is pulled while C_Login is in the module (the counting wrapper
# holds the call 1 s before forwarding it): exit 5, and that attempt stays
# counted (its outcome is unknown, R-P1), so after re-inserting 9 tries are left.
token_pulled_during_login() {
	local i
	make_token
	use_counting
	(UKEY_COUNT_DELAY_MS=1000 exec "$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" pin verify \
		<<<"$PIN" >"$T/bg.out" 2>"$T/bg.err") &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
	for ((i = 0; i < 250; i++)); do
		(($(logins) > 0)) && break
		sleep 0.02
	done
	assert_logins 1 "before pulling"
	pull "$SERIAL"
	RC=0
	wait "$BG_PID" || RC=$?
	BG_PIDS=()
	OUT=$(cat "$T/bg.out")
	ERR=$(cat "$T/bg.err")
	LAST_CMD="ukey pin verify (token pulled during C_Login)"
	reinsert
	printf 'pulled during the login: exit %s\n' "$RC"
	local rc=$RC out=$OUT err=$ERR
	expect_tries 9 --token "$SERIAL"
	RC=$rc OUT=$out ERR=$err LAST_CMD="ukey pin verify (token pulled during C_Login)"
	expect_rc 5
	assert_contains "$ERR" "removed" "message for a key pulled during the login"
	verify "$PIN"
	expect_rc 0
	expect_tries 10
}

# Pulled before the command runs: the token is not listed, and --token with
# its serial finds nothing (exit 5); nothing reaches the module.
token_pulled_before_command() {
	make_token
	use_counting
	pull "$SERIAL"
	run ukey list --json
	expect_rc 0
	assert_json .tokens '[]'
	verify "$PIN" --token "$SERIAL"
	expect_rc 5
	assert_logins 0 "verify of a pulled token"
	reinsert
	verify "$PIN" --token "$SERIAL"
	expect_rc 0
}

# Pulling one key must not break PIN entry on another key that stays inserted.
other_token_pulled_leaves_this_one_usable() {
	local first second
	make_token --label first
	first=$SERIAL
	make_token --label second
	second=$SERIAL
	start_verify_waiting_for_pin --token "$second"
	pull "$first"
	give_pin "$PIN"
	reinsert
	expect_rc 0
	assert_contains "$OUT" "$second" "verify output"
}

# ---------------------------------------------------------------- bad PINs
#
# A PIN that cannot be right is refused before any token sees it: exit 2, no
# login reaches the module, and the tries left stay as they were (one wrong
# PIN first, so "unchanged" is 9: neither counted nor reset).

one_wrong_try_first() {
	make_token
	use_counting
	verify "$WRONG"
	expect_rc 3
	expect_tries 9
	assert_logins 1 "one wrong PIN"
}

expect_refused_untouched() {
	expect_rc 2
	assert_logins 1 "$1"
	expect_tries 9
}

pin_empty_refused() {
	one_wrong_try_first
	verify ""
	expect_refused_untouched "empty PIN line"
	run ukey pin verify # no line at all on stdin
	expect_refused_untouched "no PIN on stdin"
	verify "" --json
	expect_rc 2
	assert_json .error.id '"pin-invalid"'
	change "" "$PIN"
	expect_refused_untouched "empty old PIN"
}

pin_too_long_refused() {
	local p64 p65
	p64=$(printf '7%.0s' {1..64})
	p65=${p64}7
	one_wrong_try_first
	verify "$p65"
	expect_refused_untouched "PIN of 65 bytes"
	change "$PIN" "$p65"
	expect_refused_untouched "new PIN of 65 bytes"
	# 64 bytes is the longest ukey accepts: it goes to the token (and is wrong).
	verify "$p64"
	expect_rc 3
	assert_logins 2 "PIN of 64 bytes"
	assert_eq "login 1 64" "$(tail -n1 "$COUNT")" "the login line of the 64-byte PIN"
}

pin_not_utf8_refused() {
	one_wrong_try_first
	verify $'\xff\xfe12'
	expect_refused_untouched "PIN not UTF-8"
	verify $'12\xc3\x28'
	expect_refused_untouched "PIN with a broken UTF-8 sequence"
	verify $'12\x0134'
	expect_refused_untouched "PIN with a control character"
}

# ---------------------------------------------------------------- bad state

# expect_state_refused DIR: PIN commands with --state-dir DIR fail closed (exit
# 1, DIR named) and no login reaches the module.
expect_state_refused() {
	local dir=$1
	verify "$PIN" --state-dir "$dir"
	expect_rc 1
	assert_contains "$ERR" "$dir" "message for an unusable state dir"
	change "$PIN" "$WRONG" --state-dir "$dir"
	expect_rc 1
	assert_contains "$ERR" "$dir" "message for an unusable state dir (pin change)"
	run ukey pin status --state-dir "$dir"
	expect_rc 1
	assert_contains "$ERR" "$dir" "message for an unusable state dir (pin status)"
	verify "$PIN" --state-dir "$dir" --json
	expect_rc 1
	assert_json .error.id '"state-unavailable"'
	assert_logins 0 "PIN commands with state dir $dir"
}

# An unwritable state dir (tests may run as root, who ignores permission bits:
# so a path below a regular file, and one below /proc): fail closed.
state_dir_unwritable() {
	make_token
	use_counting
	: >"$T/a-file"
	expect_state_refused "$T/a-file/state"
	expect_state_refused "/proc/ukey-integration-$$/state"
	# Listing does not need the store.
	run ukey list --state-dir "$T/a-file/state"
	expect_rc 0
	assert_contains "$OUT" "$SERIAL" "ukey list with an unusable state dir"
}

# A damaged state database: PIN entry refused (exit 1, "damaged"), nothing
# reaches the module; `ukey list` and `ukey certs` still work.
corrupt_state_db() {
	make_token
	use_counting
	mkdir -p "$STATE"
	for i in $(seq 1 200); do printf 'this is not a SQLite database. '; done >"$STATE/state.db"
	verify "$PIN"
	expect_rc 1
	assert_contains "$ERR" "damaged" "message for a damaged state database"
	verify "$PIN" --json
	expect_rc 1
	assert_json .error.id '"state-corrupt"'
	change "$PIN" "$WRONG"
	expect_rc 1
	assert_logins 0 "PIN commands with a damaged state database"
	run ukey list
	expect_rc 0
	assert_contains "$OUT" "$SERIAL" "ukey list with a damaged state database"
	run ukey certs --json
	expect_rc 0
	assert_json '.certificates | length' 1
	assert_json '.certificates[0].readable' true
}

# ---------------------------------------------------------------- bad certificates

# A certificate object whose value is not DER is listed as unreadable (R-D3),
# and the good certificate beside it is still listed in full.
cert_not_der_listed_unreadable() {
	make_token --cert garbage --extra-cert --label broken
	run ukey certs --json
	expect_rc 0
	assert_json '.certificates | length' 2
	assert_json '[.certificates[] | select(.readable == false) | .status]' '["unreadable"]'
	assert_json '[.certificates[] | select(.readable == false) | .label]' '["broken"]'
	assert_json '[.certificates[] | select(.readable) | [.label, .status, .subject_cn, .key_match]]' \
		'[["broken-2","valid","Test Unit","match"]]'
	run ukey certs
	expect_rc 0
	assert_contains "$OUT" "unreadable" "ukey certs text"
	assert_contains "$OUT" "Test Unit" "ukey certs text"
	run ukey list --json
	assert_json '.tokens[0].certificates' 2
}

# A valid certificate for a key that is not on the token: key_match "mismatch".
cert_key_mismatch() {
	make_token --cert mismatch
	run ukey certs --json
	expect_rc 0
	assert_json '.certificates | length' 1
	assert_json '.certificates[0].readable' true
	assert_json '.certificates[0].key_match' '"mismatch"'
	run ukey certs
	expect_rc 0
	assert_contains "$OUT" "does NOT match" "ukey certs text"
}

run_case "$@"
