#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey guide`: the CA's services R-S1…R-S8 with where, fee, what to bring and the service point, in both languages.

. "$(dirname "$0")/lib.sh"

# Every service of service-rules.md, in order, with the fees the manual gives.
all_services_with_fees() {
	run "$UKEY_BIN" --json guide
	expect_rc 0
	assert_json '[.services[].rule] | join(",")' '"R-S1,R-S2,R-S3,R-S4,R-S5,R-S6,R-S7,R-S8"'
	assert_json '.services[0].fee_cny' 260
	assert_json '.services[1].fee_cny' 0
	assert_json '.services[2].fee_cny' 80
	assert_json '.services[3].fee_cny' null
	assert_json '.services[5].fee_cny' 180
	assert_json '.services[6].where' '"online"'
	assert_json '.services[6].address' null
	assert_json '.services[1].where' '"online-or-on-site"'
	# R-S3 / R-S4 keep the validity end and revoke the old certificate (R-V1).
	assert_json '.services[2].effect.en | test("SAME validity end")' true
	assert_json '.services[3].fee.en | test("R-D5") and test("R-D6")' true
}

# The paperwork list: the e-seal form for issue, loss, damage, change and on-site renewal only.
paperwork_per_service() {
	run "$UKEY_BIN" --json guide
	expect_rc 0
	assert_json '[.services[] | select(.paperwork | map(.zh_CN) | any(test("电子印章"))) | .rule] | join(",")' \
		'"R-S1,R-S3,R-S4,R-S5,R-S6"'
	assert_json '[.services[] | .paperwork | length] | join(",")' '"4,3,4,4,4,4,0,3"'
	assert_json '.services[2].address.zh_CN' '"北京市西城区裕民东路3号京版信息港一层"'
}

# One service by rule or id, in text; Chinese with LANGUAGE=zh_CN; an unknown one is a usage error.
one_service_text_and_errors() {
	run "$UKEY_BIN" guide R-S4
	expect_rc 0
	assert_contains "$OUT" "Damage replacement" "R-S4 name"
	assert_contains "$OUT" "80 CNY" "R-S4 fee"
	assert_contains "$OUT" "Yumin East Road" "service point"
	run "$UKEY_BIN" guide loss
	expect_rc 0
	assert_contains "$OUT" "R-S3" "loss is R-S3"
	LANGUAGE=zh_CN run "$UKEY_BIN" guide unlock
	expect_rc 0
	assert_contains "$OUT" "证书解锁" "Chinese name"
	assert_contains "$OUT" "免费" "free"
	run "$UKEY_BIN" guide R-S9
	expect_rc 2
	assert_contains "$ERR" "R-S1 to R-S8" "lists what exists"
}

run_case "$@"
