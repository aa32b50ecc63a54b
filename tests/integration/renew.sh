#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey renew` against the reference CA (tests/ca) over real HTTPS with TLS client authentication by the key on a
# SoftHSM2 token: the R-R rules, the pending order, faults of the CA, a wrong PIN, and kill -9 at every step.
#
# Dates: certificates come from the reference CA with whole-day validity (mktoken --refca); the CA's clock is
# the real one unless a case overrides it (admin today).
#
# Environment (set by CMake): UKEY_BIN, UKEY_REFCA_BIN, UKEY_MKTOKEN, UKEY_SOFTHSM_MODULE, UKEY_COUNTING_MODULE.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-renew.sh"

# R-R3: not expired → the new certificate ends one year after the old one; the PIN is unchanged (R-P4).
renew_unexpired_extends_old_end() {
	ca_start --autopay
	refca_token 60
	cert_json
	local old_end new_end
	old_end=$(jq -r '.certificates[0].not_after[0:10]' <<<"$OUT")
	run -i "$PIN"$'\n' renew_ukey renew
	expect_rc 0
	assert_contains "$OUT" "Renewed" "result line"
	assert_contains "$ERR" "[2/7] generating a new key pair on the key" "progress"
	assert_one_working_pair
	new_end=$(jq -r '.certificates[0].not_after[0:10]' <<<"$OUT")
	assert_eq "$(date -u -d "$old_end +1 year" +%Y-%m-%d)" "$new_end" "R-R3: old end + 1 year"
	assert_json '.certificates[0].issuer_cn' '"ukey Reference CA"'
	assert_json '.certificates[0].subject_cn' '"Test Unit"'
	verify "$PIN"
	expect_rc 0
}

# R-R2: 89 days left is open, 91 is not (exit 7 with the date it opens); the edge itself is in the CA's tests.
renew_check_window_edges() {
	ca_start --autopay
	refca_token 89
	run renew_ukey renew --check --json
	expect_rc 0
	assert_json '.renewal.open' true
	assert_json '.renewal.rule' '"R-R3"'
	make_token --refca "$CA" --label later --not-before "$((-200 * DAY))" --not-after "+$((91 * DAY))"
	run renew_ukey --token later renew --check --json
	expect_rc 7
	local end opens
	end=$(jq -r '.certificate.not_after' <<<"$OUT")
	# The first second with fewer than 90 whole days left.
	opens=$(date -u -d "@$(($(date -u -d "$end" +%s) - 90 * DAY + 1))" +%Y-%m-%d)
	assert_json '.renewal.opens_on' "\"$opens\""
	run renew_ukey --token later renew --check
	expect_rc 7
	assert_contains "$ERR" "opens on $opens" "the date it opens"
	run -i "$PIN"$'\n' renew_ukey --token later renew
	expect_rc 7
}

# An EC P-256 key is renewed as EC P-256: generated on the key, the CSR signed with ECDSA there, TLS client
# authentication by the old EC key.
renew_ec_key_stays_ec() {
	ca_start --autopay
	refca_token 30 --key ec
	run -i "$PIN"$'\n' renew_ukey renew
	expect_rc 0
	assert_one_working_pair
	assert_json '.certificates[0].key_type' '"EC-P-256"'
	assert_json '.certificates[0].days_left > 365' true
}

# R-R2 at its edges, read by ukey and confirmed by the CA on its own implementation of the rules (the two must
# agree): 89 days left open, 90 closed; expired 365 days open (R-R4), 366 closed (R-R5).
renew_check_edges_agree_with_ca() {
	ca_start --autopay
	local left want rule
	for left in 89 90 -365 -366; do
		case $left in
		89) want=true rule=R-R3 ;;
		90) want=false rule=R-R3 ;;
		-365) want=true rule=R-R4 ;;
		-366) want=false rule=R-R5 ;;
		esac
		refca_token "$left" --label "edge$left"
		run renew_ukey --token "edge$left" renew --check --json
		assert_json '.renewal.open' "$want"
		assert_json '.renewal.rule' "\"$rule\""
		assert_json '.ca.open' "$want"
		assert_json '.ca.confirmed' true
		if [[ $want == true ]]; then expect_rc 0; else expect_rc 7; fi
	done
}

# R-R4: expired (≤ 365 days) → one year from the download.
renew_expired_one_year_from_download() {
	ca_start --autopay
	refca_token -30
	run renew_ukey renew --check --json
	expect_rc 0
	assert_json '.renewal.rule' '"R-R4"'
	run -i "$PIN"$'\n' renew_ukey renew --json
	expect_rc 0
	assert_json '.new_not_after' "\"$(date -u -d "+1 year" +%Y-%m-%d)\""
	assert_one_working_pair
}

# R-R5: expired more than 365 days: not online (exit 7), says documents and approval.
renew_expired_366_days_needs_documents() {
	ca_start --autopay
	refca_token -367
	run renew_ukey renew --check
	expect_rc 7
	assert_contains "$ERR" "R-R5" "rule named"
}

# R-R6: the CA holds the order until paid: exit 8, the order listed, then --resume finishes with the same key.
renew_pending_until_paid_then_resume() {
	ca_start --retry-after 5
	refca_token 30
	run -i "$PIN"$'\n' renew_ukey renew
	expect_rc 8
	assert_contains "$ERR" "ukey renew --resume" "what to do"
	run ukey orders --json
	expect_rc 0
	assert_json '.renewals | length' 1
	assert_json '.renewals[0].state' '"pending"'
	local order
	order=$(jq -r '.renewals[0].order' <<<"$OUT")
	[[ -n $order && $order != null ]] || fail "no order id kept"
	# The old certificate still works while the order waits.
	cert_json
	assert_json '[.certificates[] | select(.key_match == "match")] | length' 1
	"$UKEY_REFCA_BIN" admin "$CA" pay "$order" >/dev/null || fail "admin pay failed"
	run -i "$PIN"$'\n' renew_ukey renew --resume
	expect_rc 0
	assert_one_working_pair
	run ukey orders --json
	assert_json '.renewals | length' 0
}

# R-P1: a wrong PIN during renewal counts like any other and changes nothing on the key.
renew_wrong_pin_counts() {
	ca_start --autopay
	refca_token 30
	run -i "$WRONG"$'\n' renew_ukey renew
	expect_rc 3
	assert_contains "$ERR" "9 tries left" "tries left"
	status_json
	assert_json '.tries_left' 9
	assert_one_working_pair
}

# The CA is down: exit 6, the old pair untouched; once it is up, --resume finishes without a second key pair.
renew_ca_down_then_resume() {
	ca_start --autopay
	local url=$CA_URL
	ca_stop
	refca_token 30
	run -i "$PIN"$'\n' renew_ukey renew
	expect_rc 6
	assert_contains "$ERR" "cannot be reached" "sentence"
	cert_json
	assert_json '[.certificates[] | select(.key_match == "match")] | length' 1
	ca_start --autopay
	run -i "$PIN"$'\n' renew_ukey renew --resume
	expect_rc 0
	assert_one_working_pair
	[[ $url != "$CA_URL" ]] || true
}

# A CA whose certificate is not from the configured trust: exit 6 ca-untrusted; --abort removes the new pair.
renew_untrusted_ca_then_abort() {
	ca_start --autopay
	refca_token 30
	# mktoken's demo CA is a real CA, but not this server's.
	run -i "$PIN"$'\n' ukey --ca-url "$CA_URL" --ca-trust "$FIX/ca/ca.pem" renew --json
	expect_rc 6
	assert_json '.error.id' '"ca-untrusted"'
	run -i "$PIN"$'\n' renew_ukey renew --abort
	expect_rc 0
	assert_one_working_pair
	run ukey orders --json
	assert_json '.renewals | length' 0
}

# R-R7: with several keys inserted the key the user targets is renewed, whatever the journal holds for another;
# without a choice ukey asks for one (exit 2) rather than guess.
renew_targeted_key_wins() {
	ca_start --autopay
	refca_token 30 --label first
	local first=$SERIAL
	refca_token 30 --label second
	local second=$SERIAL
	run -i "$PIN"$'\n' renew_ukey renew
	expect_rc 2
	assert_contains "$ERR" "--token" "asks which key"
	# An interrupted renewal of the first key stays in the journal...
	set +e
	printf '%s\n' "$PIN" | UKEY_TEST_KILL_AT=keypair "$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" \
		--token "$first" --ca-url "$CA_URL" --ca-trust "$CA/ca.pem" renew >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	((RC == 137)) || fail "expected the first renewal killed (137), got $RC"
	# ...and the second key, the one targeted now, is renewed on its own.
	run -i "$PIN"$'\n' renew_ukey --token "$second" renew --json
	expect_rc 0
	assert_json '.token_serial' "\"$second\""
	run ukey orders --json
	assert_json '[.renewals[] | .token_serial]' "[\"$first\"]"
	run -i "$PIN"$'\n' renew_ukey --token "$first" renew --resume
	expect_rc 0
	run ukey orders --json
	assert_json '.renewals | length' 0
	run ukey certs --json
	assert_json '[.certificates[] | select(.key_match == "match")] | length' 2
	assert_json '[.certificates[] | select(.days_left > 365)] | length' 2
}

renew_needs_a_ca() {
	refca_token 30
	run -i "$PIN"$'\n' ukey renew
	expect_rc 2
	assert_contains "$ERR" "--ca-url" "what to give"
}

# kill -9 at each step, then --resume: the old or the new pair works in between, never neither; no orphans after.
renew_killed_at() {
	local point=$1
	ca_start --autopay
	refca_token 30
	set +e
	printf '%s\n' "$PIN" | UKEY_TEST_KILL_AT=$point "$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" \
		--ca-url "$CA_URL" --ca-trust "$CA/ca.pem" renew >"$T/out" 2>"$T/err"
	RC=$?
	set -e
	((RC == 137)) || fail "expected the renewal killed at '$point' (137), got exit $RC: $(cat "$T/err")"
	cert_json
	assert_json '[.certificates[] | select(.key_match == "match")] | length > 0' true
	run -i "$PIN"$'\n' renew_ukey renew --resume
	expect_rc 0
	assert_one_working_pair
	assert_json '.certificates[0].issuer_cn' '"ukey Reference CA"'
	local end
	end=$(jq -r '.certificates[0].not_after[0:10]' <<<"$OUT")
	assert_eq "$(date -u -d "+30 days +1 year" +%Y-%m-%d)" "$end" "renewed once, R-R3"
}

for point in journaled keygen keypair received write written remove-old; do
	eval "renew_killed_at_${point//-/_}() { renew_killed_at $point; }"
done

run_case "$@"
