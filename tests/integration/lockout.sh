#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The 10-try PIN lockout on a real SoftHSM2 token (R-P1, R-P2), across processes and through kill -9.
#
# SoftHSM2 keeps no retry counter of its own (wrong PINs are refused forever),
# so every lock seen here is ukey's own journal in the state dir.

. "$(dirname "$0")/lib.sh"

# R-P1: wrong PINs 1..9 each exit 3 and say how many tries are left, in
# the sentence and in --json error.tries_left.
nine_wrong_pins_count_down() {
	local left
	make_token
	expect_tries 10
	for left in 9 8 7 6 5 4 3 2 1; do
		if ((left % 2)); then
			verify "$WRONG"
			expect_rc 3
			if ((left == 1)); then
				assert_contains "$ERR" "1 try left" "message after the 9th wrong PIN"
			else
				assert_contains "$ERR" "$left tries left" "message after a wrong PIN"
			fi
		else
			verify "$WRONG" --json
			expect_rc 3
			assert_json .error.id '"pin-incorrect"'
			assert_json .error.tries_left "$left"
			assert_json .error.locked false
			assert_contains "$(jq -r .error.message <<<"$OUT")" "$left tries left" "JSON error.message"
		fi
		expect_tries "$left"
	done
}

# R-P1: the 10th consecutive wrong PIN still exits 3, and the key is then locked.
tenth_wrong_pin_locks() {
	local i
	make_token
	for i in 1 2 3 4 5 6 7 8 9; do
		verify "$WRONG"
		expect_rc 3
	done
	verify "$WRONG" --json
	expect_rc 3
	assert_json .error.tries_left 0
	assert_json .error.locked true
	assert_contains "$(jq -r .error.message <<<"$OUT")" "locked" "JSON error.message of the 10th wrong PIN"
	status_json
	assert_json .locked true
	assert_json .tries_left 0
	assert_json .serial "\"$SERIAL\""
	run ukey pin status
	expect_rc 0
	assert_contains "$OUT" "locked" "pin status text"
}

# R-P1: an 11th attempt is refused with exit 4 (PIN locked).
eleventh_attempt_refused() {
	make_token
	lock_token
	verify "$WRONG"
	expect_rc 4
	verify "$WRONG" --json
	expect_rc 4
	assert_json .error.id '"pin-locked"'
	assert_json .error.exit_code 4
	expect_tries 0
}

# R-P1: the count is of CONSECUTIVE wrong PINs: a right PIN after 9 wrong ones
# resets it to 10, and 9 more wrong ones still leave the key usable.
right_pin_after_nine_wrong_resets() {
	local i
	make_token
	for i in 1 2 3 4 5 6 7 8 9; do
		verify "$WRONG"
		expect_rc 3
	done
	expect_tries 1
	verify "$PIN"
	expect_rc 0
	expect_tries 10
	for i in 1 2 3 4 5 6 7 8 9; do
		verify "$WRONG"
		expect_rc 3
	done
	expect_tries 1
	verify "$PIN"
	expect_rc 0
}

# R-P2: once locked, the right PIN is refused too (exit 4), and the key stays locked.
right_pin_after_lock_refused() {
	make_token
	lock_token
	verify "$PIN" --json
	expect_rc 4
	assert_json .error.rule '"R-P2"'
	assert_json .error.locked true
	verify "$PIN"
	expect_rc 4
	assert_contains "$ERR" "R-P2" "message for a locked key"
	expect_tries 0
}

# R-P2: a locked key is not asked at all: through the counting wrapper, exactly
# the 10 wrong logins reach the module and nothing after them, right or wrong PIN.
locked_token_not_asked() {
	local i
	make_token
	use_counting
	lock_token
	assert_logins 10 "ten wrong PINs"
	grep -qv '^login 1 6$' "$COUNT" && fail "unexpected login lines: $(cat "$COUNT")"
	for i in 1 2 3; do
		verify "$PIN"
		expect_rc 4
		verify "$WRONG"
		expect_rc 4
	done
	run ukey list
	expect_rc 0
	assert_logins 10 "attempts after the lock"
}

# The counter lives in the state dir: separate processes sharing one --state-dir
# add up, also when they run at the same time. After 2 wrong PINs, 12 processes
# try a wrong PIN at once: never more than 10 logins reach the module, every
# login that reached it is counted, and the key locks at exactly the 10th.
#
# SoftHSM2's file store is not safe for concurrent processes: a C_Login or
# C_GetTokenInfo racing another process's C_Login sometimes answers
# CKR_GENERAL_ERROR (ukey: exit 1, "did not answer correctly"). So exit 1 is
# tolerated here, but the accounting must hold whatever the module answered.
state_dir_shared_across_processes() {
	local i pids=() rc n3=0 n4=0 n1=0 other=() n counted
	make_token
	use_counting
	verify "$WRONG"
	expect_rc 3
	verify "$WRONG"
	expect_rc 3
	expect_tries 8
	printf '%s\n' "$WRONG" >"$T/wrong-pin"
	for i in $(seq 1 12); do
		# The store work overlaps; the delay inside C_Login staggers what reaches SoftHSM2.
		(UKEY_COUNT_DELAY_MS=$((100 + 40 * i)) exec "$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" \
			pin verify <"$T/wrong-pin" >"$T/par-$i.out" 2>&1) &
		pids+=($!)
		BG_PIDS+=($!)
	done
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		case $rc in
		1) n1=$((n1 + 1)) ;;
		3) n3=$((n3 + 1)) ;;
		4) n4=$((n4 + 1)) ;;
		*) other+=("process $((i + 1)): exit $rc: $(cat "$T/par-$((i + 1)).out")") ;;
		esac
	done
	BG_PIDS=()
	printf 'concurrent: %d wrong PIN (3), %d locked (4), %d module error (1)\n' "$n3" "$n4" "$n1"
	((${#other[@]} == 0)) || fail "unexpected results: ${other[*]}"
	((n3 <= 8)) || fail "$n3 processes were told 'wrong PIN' but only 8 tries were left"
	n=$(logins)
	((n <= 10)) || fail "$n C_Login calls reached the module: more than 10"
	status_json
	counted=$((10 - $(jq .tries_left <<<"$OUT")))
	assert_eq "$n" "$counted" "tries counted in the shared store vs C_Login calls that reached the module"
	# Finish the job sequentially: the lock comes at exactly the 10th login.
	for ((i = 0; i < 10; i++)); do
		verify "$WRONG"
		[[ $RC == 4 ]] && break
		expect_rc 3
	done
	expect_rc 4
	assert_logins 10 "logins when the shared counter locked the key"
	expect_tries 0
}

# The counter is per state dir, that is per user: a key locked under one state
# dir is untouched under another (each user's ukey counts its own tries;
# SoftHSM2 keeps no shared counter).
state_dirs_count_separately() {
	local other_state=$T/other-state
	make_token
	lock_token
	run "$UKEY_BIN" --module "$MODULE" --state-dir "$other_state" pin status --json
	expect_rc 0
	assert_json .tries_left 10
	assert_json .locked false
	verify "$WRONG" --state-dir "$other_state"
	expect_rc 3
	run "$UKEY_BIN" --module "$MODULE" --state-dir "$other_state" pin status --json
	assert_json .tries_left 9
	verify "$PIN" --state-dir "$other_state"
	expect_rc 0
	# The first state dir still says locked.
	verify "$PIN"
	expect_rc 4
	expect_tries 0
}

# R-P1: kill -9 at random moments of `ukey pin verify` never yields a free try:
# every C_Login that reaches the module was counted before it (checked after
# each kill), at most 10 logins ever reach it, and after the lock nothing does.
#
# SoftHSM2 rewrites its token.object file in place during a wrong-PIN C_Login;
# a SIGKILL at that moment leaves it empty and the token gone for good (ukey:
# "No USB key", exit 5). That is the emulator's damage, not ukey's: the case
# then puts back a copy of the token directory (same serial, same counter in
# ukey's store) and goes on.
kill_9_gives_no_free_try() {
	local i rc pid n before dir killed=0 inside=0 finished=0 repaired=0 extra=0 locked=0
	make_token
	use_counting
	dir=$(token_dir "$SERIAL")
	cp -a "$dir" "$T/token-copy"
	printf '%s\n' "$WRONG" >"$T/wrong-pin"
	for ((i = 1; i <= 40 && !locked; i++)); do
		before=$(logins)
		(UKEY_COUNT_DELAY_MS=$((RANDOM % 31)) exec "$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" \
			pin verify <"$T/wrong-pin" >/dev/null 2>&1) &
		pid=$!
		BG_PIDS+=("$pid")
		sleep "0.0$(printf '%02d' $((RANDOM % 61)))"
		kill -KILL "$pid" 2>/dev/null || true
		rc=0
		{ wait "$pid"; } 2>/dev/null || rc=$?
		BG_PIDS=()
		case $rc in
		137)
			killed=$((killed + 1))
			(($(logins) > before)) && inside=$((inside + 1))
			;;
		1 | 3) finished=$((finished + 1)) ;; # 1: SoftHSM2 failed the login; counted all the same
		4) locked=1 ;;
		*) fail "kill loop iteration $i: unexpected exit $rc" ;;
		esac
		run ukey pin status --json
		if [[ $RC != 0 ]]; then
			rm -rf "$dir"
			cp -a "$T/token-copy" "$dir"
			repaired=$((repaired + 1))
			status_json
		fi
		# No free try: the shared store counts at least every login that reached the module.
		n=$((10 - $(jq .tries_left <<<"$OUT")))
		((n >= $(logins))) || fail "after kill loop iteration $i: $(logins) logins reached the module, only $n tries counted"
	done
	printf 'kill loop: %d runs, %d killed (%d of them after their C_Login reached the module), %d finished, ' \
		"$((i - 1))" "$killed" "$inside" "$finished"
	printf '%d SoftHSM2 tokens repaired, %s logins so far\n' "$repaired" "$(logins)"
	# Then wrong PINs, normally, until ukey says locked.
	while ((!locked)); do
		verify "$WRONG"
		case $RC in
		3) ;;
		4) locked=1 ;;
		*) fail "wrong PIN after the kill loop: unexpected exit $RC" ;;
		esac
		extra=$((extra + 1))
		((extra <= 11)) || fail "still not locked after $extra more wrong PINs"
	done
	n=$(logins)
	((n <= 10)) || fail "$n C_Login calls reached the module: more than 10 (a free try)"
	expect_tries 0
	verify "$PIN"
	expect_rc 4
	verify "$WRONG"
	expect_rc 4
	assert_logins "$n" "right and wrong PIN after the lock"
}

run_case "$@"
