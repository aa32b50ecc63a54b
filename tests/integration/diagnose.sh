#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey diagnose` on SoftHSM2 keys: R-D3 (certificate missing, not DER, not for the key), LOCKED, EXPIRED,
# ENVIRONMENT (module), HEALTHY, what the light says against the evidence, warranty on both sides of R-D4's
# boundary with R-D5/R-D6's fee, the report, and bad input.
#
# PC/SC is pointed at a socket that does not exist, so pcscd is "not running" on every machine alike; a
# software token needs no pcscd (a warning, not a failure). R-D1 and R-D2 need the USB and PC/SC fixtures:
# see devices.sh.

. "$(dirname "$0")/lib.sh"

export PCSCLITE_CSOCK_NAME=$T/no-pcscd.comm
DAY=86400

# diagnose_json [ukey options]: `ukey diagnose --json`, must succeed; the JSON is in OUT.
diagnose_json() {
	run ukey diagnose --json "$@"
	expect_rc 0
	assert_json '.checks | type' '"array"'
}

check_status() {
	assert_json "[.checks[] | select(.id == \"$1\") | .status][0]" "\"$2\""
}

# R-D3: the certificate object is gone.
r_d3_certificate_missing() {
	make_token --cert none
	diagnose_json --led steady
	assert_json '.verdict.code' '"R-D3"'
	assert_json '.verdict.media_fault' true
	check_status cert-present fail
	assert_json '.service.rule' '"R-S4"'
}

# R-D3: the certificate object holds bytes that are not DER.
r_d3_certificate_not_der() {
	make_token --cert garbage
	diagnose_json --led steady
	assert_json '.verdict.code' '"R-D3"'
	check_status cert-parses fail
}

# R-D3: a valid certificate, but for another key than the token's.
r_d3_certificate_not_for_key() {
	make_token --cert mismatch
	diagnose_json --led steady
	assert_json '.verdict.code' '"R-D3"'
	check_status cert-key-match fail
	assert_json '.verdict.note' null
}

# LOCKED (R-P1/R-P2): ten wrong PINs, then the diagnosis says unlock, not damage, and unlock is free (R-P3).
locked_after_ten_wrong_pins() {
	make_token
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		verify 000000
	done
	status_json
	assert_json '.locked' true
	diagnose_json --led steady
	assert_json '.verdict.code' '"LOCKED"'
	assert_json '.verdict.media_fault' false
	assert_json '.warranty.fee_cny' 0
	assert_json '.service.rule' '"R-S2"'
	check_status pin fail
}

# EXPIRED (R-R1): not damage; renewal next.
expired_certificate() {
	make_token --not-before "-$((400 * DAY))" --not-after "-$((10 * DAY))"
	diagnose_json --led steady
	assert_json '.verdict.code' '"EXPIRED"'
	assert_json '.service.rule' '"R-S7"'
	check_status cert-validity fail
}

# ENVIRONMENT: the module path is wrong; fixable here, the key is not looked at as faulty.
environment_module_path_wrong() {
	MODULE=$T/no-such-module.so
	diagnose_json --led steady
	assert_json '.verdict.code' '"ENVIRONMENT"'
	assert_json '.verdict.media_fault' false
	check_status module fail
	assert_json '[.checks[] | select(.id == "module") | .fix | test("--module")][0]' true
}

# HEALTHY; "light off" is said, but the key answers: not R-D1, and the verdict says so.
healthy_light_off_disagrees() {
	make_token
	diagnose_json --led off
	assert_json '.verdict.code' '"HEALTHY"'
	assert_json '.verdict.note | test("not R-D1")' true
	assert_json '.led' '"off"'
	assert_json '.warranty.replacement' false
}

# R-D4/R-D5: first issued one year minus one day ago: the last day in warranty, a media fault is free.
warranty_last_day_free() {
	local first
	first=$(date -d "$(date +%Y-%m-%d) -1 year +1 day" +%Y-%m-%d)
	make_token --cert none --first-issued "$first"
	diagnose_json --led steady
	assert_json '.verdict.code' '"R-D3"'
	assert_json '.warranty.first_issued' "\"$first\""
	assert_json '.warranty.source' '"token"'
	assert_json '.warranty.in_warranty' true
	assert_json '.warranty.fee_cny' 0
	assert_json '.warranty.rule' '"R-D5"'
}

# R-D4/R-D6: first issued exactly one year ago: the anniversary is the first day out, 80 CNY.
warranty_anniversary_charged() {
	local first
	first=$(date -d "$(date +%Y-%m-%d) -1 year" +%Y-%m-%d)
	make_token --cert none --first-issued "$first"
	diagnose_json --led steady
	assert_json '.verdict.code' '"R-D3"'
	assert_json '.warranty.in_warranty' false
	assert_json '.warranty.fee_cny' 80
	assert_json '.warranty.rule' '"R-D6"'
	assert_json '.warranty.until' "\"$(date +%Y-%m-%d)\""
}

# --first-issued (the technician's paperwork) wins over the token's object; a healthy key in warranty still
# costs 80 CNY if replaced (R-D6: not a media fault).
warranty_flag_and_not_a_media_fault() {
	make_token --first-issued 2020-01-01
	diagnose_json --led steady --first-issued "$(date +%Y-%m-%d)"
	assert_json '.warranty.source' '"flag"'
	assert_json '.warranty.in_warranty' true
	assert_json '.verdict.code' '"HEALTHY"'
	assert_json '.warranty.fee_cny' 80
}

# The report: one printable page, both languages' labels, the verdict; hostile token text is escaped.
report_written_and_escaped() {
	make_token --cert none --label '<b>x</b>&'
	run ukey diagnose --led steady --report "$T/report.html"
	expect_rc 0
	assert_contains "$OUT" "Verdict: R-D3" "text verdict"
	assert_contains "$OUT" "Report: $T/report.html" "report path shown"
	local html
	html=$(cat "$T/report.html")
	assert_contains "$html" "<!DOCTYPE html>" "HTML document"
	assert_contains "$html" "R-D3" "verdict in the report"
	assert_contains "$html" "介质质量问题" "Chinese label"
	assert_contains "$html" "Warranty and fee" "English label"
	assert_contains "$html" "&lt;b&gt;x&lt;/b&gt;&amp;" "label escaped"
	assert_not_contains "$html" "<b>x</b>" "raw label"
	# A copy of both forms with a timestamp in the state directory.
	compgen -G "$STATE/reports/diagnose-*.html" >/dev/null || fail "no report kept in $STATE/reports"
	compgen -G "$STATE/reports/diagnose-*.json" >/dev/null || fail "no JSON kept in $STATE/reports"
}

# No --led and no terminal to ask on: the light is "unknown" and the verdict says it was not given.
no_terminal_light_not_given() {
	make_token --cert none
	run ukey diagnose --json
	expect_rc 0
	assert_json '.led' '"unknown"'
	assert_json '.verdict.note | test("not given")' true
	run ukey diagnose
	expect_rc 0
	assert_contains "$OUT" "Light: unknown" "text says the light is unknown"
}

bad_led_value() {
	assert_exit 2 ukey diagnose --led purple
	assert_contains "$ERR" "off, blinking or steady" "the message lists the values"
}

bad_first_issued_dates() {
	local d
	for d in 2025-02-29 2025-13-01 25-01-01 2025-1-1 2025-01-01x ""; do
		assert_exit 2 ukey diagnose --led steady --first-issued "$d"
		assert_contains "$ERR" "YYYY-MM-DD" "message for '$d'"
	done
}

# zh_CN: the labels, the checks, the verdict and the fee in Chinese (a private zh_CN locale, as cli.sh makes).
diagnose_in_chinese() {
	local loc=$T/locale
	mkdir -p "$loc"
	localedef -i zh_CN -f UTF-8 "$loc/zh_CN.UTF-8" 2>/dev/null || die "localedef zh_CN.UTF-8 failed"
	make_token --cert none --first-issued 2020-01-01
	LOCPATH=$loc LC_ALL=zh_CN.UTF-8 run "$UKEY_BIN" --module "$MODULE" --state-dir "$STATE" diagnose --led steady
	expect_rc 0
	assert_contains "$OUT" "结论：R-D3" "verdict line"
	assert_contains "$OUT" "R-D3 介质质量问题" "rule text"
	assert_contains "$OUT" "USBKey 中有证书" "check title"
	assert_contains "$OUT" "介质费 80 元" "fee (R-D6)"
}

run_case "$@"
