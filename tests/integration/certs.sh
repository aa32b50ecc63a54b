#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey certs` on real certificates: the R-R2 renewal window at its edges, fields, dates, UTF-8 names, key types.
#
# Validity ends are set relative to "now" when the token is made (mktoken
# --not-after +SECONDS); each edge keeps an hour of margin, so a slow machine
# cannot move a case across a day boundary. days_left counts whole days left.

. "$(dirname "$0")/lib.sh"

DAY=86400
HOUR=3600

# certs_json [mktoken options]: one token with one certificate; OUT holds `ukey certs --json`.
certs_json() {
	make_token "$@"
	run ukey certs --json
	expect_rc 0
	assert_json '.certificates | length' 1
}

# R-R2: 90 days and 1 hour left is not yet inside the window.
valid_90_days_renewal_closed() {
	certs_json --not-after "+$((90 * DAY + HOUR))"
	assert_json '.certificates[0].status' '"valid"'
	assert_json '.certificates[0].days_left' 90
	assert_json '.certificates[0].renewal_open' false
}

# R-R2: 89 days and 23 hours left (less than 90 days): expiring, renewal open.
expiring_89_days_renewal_open() {
	certs_json --not-after "+$((89 * DAY + 23 * HOUR))"
	assert_json '.certificates[0].status' '"expiring"'
	assert_json '.certificates[0].days_left' 89
	assert_json '.certificates[0].renewal_open' true
	run ukey certs
	assert_contains "$OUT" "R-R2" "ukey certs text for an expiring certificate"
}

# R-R2: expired an hour ago: renewal open.
expired_1_hour_renewal_open() {
	certs_json --not-after "-$HOUR"
	assert_json '.certificates[0].status' '"expired"'
	assert_json '.certificates[0].renewal_open' true
}

# R-R2: expired 364 days ago (under a year): renewal still open.
expired_364_days_renewal_open() {
	certs_json --not-before "-$((800 * DAY))" --not-after "-$((364 * DAY))"
	assert_json '.certificates[0].status' '"expired"'
	assert_json '.certificates[0].renewal_open' true
}

# R-R2 / R-R5: expired 366 days ago (over a year): online renewal closed.
expired_366_days_renewal_closed() {
	certs_json --not-before "-$((800 * DAY))" --not-after "-$((366 * DAY))"
	assert_json '.certificates[0].status' '"expired"'
	assert_json '.certificates[0].renewal_open' false
	run ukey certs
	assert_contains "$OUT" "R-R5" "ukey certs text for a certificate expired over a year"
}

# Subject CN and O, issuer, serial and both dates (ISO 8601 UTC) as in the certificate.
fields_and_iso_dates() {
	local pem serial
	certs_json --cn "Acme Unit" --org "Acme Org" --not-before 20250101000000Z --not-after 20351231235959Z
	pem=$FIX/certs/$SERIAL.pem
	serial=$(openssl x509 -in "$pem" -noout -serial)
	assert_json '.certificates[0].subject_cn' '"Acme Unit"'
	assert_json '.certificates[0].subject_o' '"Acme Org"'
	assert_json '.certificates[0].not_before' '"2025-01-01T00:00:00Z"'
	assert_json '.certificates[0].not_after' '"2035-12-31T23:59:59Z"'
	assert_json '.certificates[0].serial' "\"${serial#serial=}\""
	assert_json '.certificates[0].token_serial' "\"$SERIAL\""
	assert_json '.certificates[0].key_type' '"RSA-2048"'
	assert_json '.certificates[0].key_match' '"match"'
	assert_contains "$(jq -r .certificates[0].issuer <<<"$OUT")" "CN=ukey Demo CA" "issuer"
	assert_contains "$(jq -r .certificates[0].subject <<<"$OUT")" "O=Acme Org" "subject"
	run ukey certs
	expect_rc 0
	assert_contains "$OUT" "2025-01-01 to 2035-12-31" "ukey certs text validity"
}

# A Chinese subject survives to the JSON (and the text) intact.
chinese_cn_intact() {
	local cn='北京测试单位' org='中直机关采购管理系统'
	certs_json --cn "$cn" --org "$org"
	assert_json '.certificates[0].subject_cn' "\"$cn\""
	assert_json '.certificates[0].subject_o' "\"$org\""
	run ukey certs
	expect_rc 0
	assert_contains "$OUT" "$cn" "ukey certs text"
}

# An EC P-256 key pair is reported as such and matches its certificate.
ec_key_type() {
	certs_json --key ec
	assert_json '.certificates[0].key_type' '"EC-P-256"'
	assert_json '.certificates[0].key_match' '"match"'
	assert_json '.certificates[0].readable' true
}

run_case "$@"
