#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey devices` and `ukey watch` on a real private pcscd with the virtual card: readers, cards, mute, pcscd going away.
#
# ctest runs `bash devices.sh CASE_FUNCTION` as root (a private pcscd needs a
# mount namespace). The harness is the PC/SC fixture's lib-pcsc.sh; ukey is
# pointed at the private pcscd by PCSCLITE_CSOCK_NAME, like any PC/SC client.
#
# Environment (set by CMake): UKEY_BIN, PCSC_PROBE, UKEY_VPCD_LIB, UKEY_SOFTHSM_MODULE.

source "$(dirname "${BASH_SOURCE[0]}")/../fixtures/pcsc/lib-pcsc.sh"

[[ -x ${UKEY_BIN:-} ]] || die "UKEY_BIN is not set or not executable (run the tests through ctest)"
EPASS_ATR_LC=${EPASS2003_ATR,,}

# No user state is read or written, and tokens come from an empty SoftHSM2 store (the PKCS#11 part of the join).
export HOME=$T/home XDG_CONFIG_HOME=$T/config XDG_STATE_HOME=$T/state
mkdir -p "$HOME" "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$T/tokens" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf UKEY_MODULE=$UKEY_SOFTHSM_MODULE

# ukey ARGS...: runs ukey; sets OUT, ERR and RC.
ukey() {
	set +e
	OUT=$("$UKEY_BIN" "$@" 2>"$T/ukey.err")
	RC=$?
	set -e
	ERR=$(cat "$T/ukey.err")
	printf '+ ukey %s => exit %s\n%s\n%s\n' "$*" "$RC" "$OUT" "$ERR"
}

# The watch's exit status matters under ASan (a leak makes it non-zero): stop it and check.
watch_end_clean() {
	local rc=0
	kill -TERM "$WATCH_PID"
	wait "$WATCH_PID" || rc=$?
	WATCH_PID=
	((rc == 0)) || fail "ukey watch exited $rc after SIGTERM (stderr: $(cat "$T/watch.stderr.log"))"
}

reader_json() {
	jq -c --arg r "$1" '.devices[] | select(.reader.name == $r)' <<<"$OUT"
}

devices_card_shown_with_atr_and_model() {
	setup_pcscd
	vcard_start card
	sleep 0.5 # one pcscd poll (400 ms) puts the card in the reader
	ukey devices --json
	((RC == 0)) || fail "exit $RC"
	check "$(reader_json "$R0")" ".reader.state == \"present\" and .reader.atr == \"$EPASS_ATR_LC\"" "card in $R0"
	check "$(reader_json "$R0")" '.model.id == "feitian-epass2003" and .model.pin_retries == 10' \
		"the ePass2003 named from its ATR (R-P1 limit from the model database)"
	check "$(reader_json "$R1")" '.reader.state == "absent" and .reader.atr == null and .model == null' "$R1 empty"
	check "$OUT" '.pcscd.running == true' "pcscd running"
	ukey devices
	[[ $OUT == *"$R0: card present, ATR ${EPASS_ATR_LC}"* ]] || fail "text shows no card line for $R0"
	[[ $OUT == *"Feitian ePass2003"* ]] || fail "text names no model"
}

devices_pcscd_not_running_says_how_to_start_it() {
	export PCSCLITE_CSOCK_NAME=$T/no-pcscd.comm
	ukey devices --json
	((RC == 0)) || fail "a missing pcscd is a finding, not a failure: exit $RC"
	check "$OUT" '.pcscd.running == false and .pcscd.error.id == "pcsc-unavailable"' "pcscd reported down"
	ukey devices
	[[ $OUT == *"systemctl start pcscd.socket"* ]] || fail "the text does not say how to start pcscd"
}

devices_malformed_model_database_names_line() {
	printf '[model x]\nname = X\nfrobnicate = 1\n' >"$T/bad.conf"
	UKEY_MODELS=$T/bad.conf ukey devices
	((RC == 1)) || fail "expected exit 1, actual $RC"
	[[ $ERR == *"$T/bad.conf:3:"* ]] || fail "the error names no file and line: $ERR"
	UKEY_MODELS=$T/bad.conf ukey devices --json
	check "$OUT" '.error.id == "model-db"' "JSON error id"
}

watch_card_inserted_and_removed() {
	setup_pcscd
	watch_start_cmd "$UKEY_BIN" watch --json
	vcard_start card
	card_in_r0
	check "$EVENT" ".atr == \"$EPASS_ATR_LC\" and .model.id == \"feitian-epass2003\"" "insertion with ATR and model"
	check "$EVENT" '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]{3}Z$")' "ISO time with ms"
	check "$EVENT" 'has("usb")' "usb field present (null for vpcd)"
	kill -USR1 "$VCARD_PID"
	card_out_of_r0
	check "$EVENT" ".atr == \"$EPASS_ATR_LC\"" "the removal names the card that left"
	watch_end_clean
}

watch_text_one_line_per_event() {
	setup_pcscd
	vcard_start card --start-removed
	mkfifo "$T/text.fifo"
	"$UKEY_BIN" watch --for 20 >"$T/text.fifo" 2>>"$T/watch.stderr.log" &
	WATCH_PID=$!
	exec {WATCH_FD}<"$T/text.fifo"
	IFS= read -r -t 5 -u "$WATCH_FD" line || fail "no first line"
	[[ $line == Watching* ]] || fail "first line: $line"
	kill -USR2 "$VCARD_PID"
	IFS= read -r -t 5 -u "$WATCH_FD" line || fail "no line for the insertion"
	printf '%s\n' "$line"
	[[ $line =~ ^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\ +card-inserted\ +Feitian\ ePass2003\ +\"$R0\"\ +ATR\ $EPASS_ATR_LC$ ]] ||
		fail "insertion line: $line"
	watch_end_clean
}

watch_mute_card_reported() {
	setup_pcscd
	watch_start_cmd "$UKEY_BIN" watch --json
	vcard_start card --mute
	card_in_r0
	expect_event ".event == \"card-mute\" and .reader == \"$R0\"" 6 "the mute card reported"
	check "$EVENT" ".atr == \"$EPASS_ATR_LC\"" "mute event carries the ATR"
	# Pulling the mute card ends the stuck SELECT and shows as a removal.
	kill -USR1 "$VCARD_PID"
	card_out_of_r0 5
	watch_end_clean
}

watch_answering_card_not_mute() {
	setup_pcscd
	watch_start_cmd "$UKEY_BIN" watch --json
	vcard_start card
	card_in_r0
	kill -USR1 "$VCARD_PID"
	card_out_of_r0 5
	watch_end_clean
	if grep -q card-mute "$T/watch.jsonl"; then
		fail "an answering card was reported mute"
	fi
}

watch_pcscd_killed_reported_and_survived() {
	setup_pcscd
	vcard_start card
	watch_start_cmd "$UKEY_BIN" watch --json
	"$PCSCD_PRIVATE" kill "$T"
	expect_event '.event == "pcscd-down"' 5 "pcscd killed"
	# No spinning while it is away: the watch backs off (0.2 s doubling to 5 s).
	sleep 2
	local ticks
	ticks=$(awk '{print $14 + $15}' "/proc/$WATCH_PID/stat")
	sleep 3
	ticks=$(($(awk '{print $14 + $15}' "/proc/$WATCH_PID/stat") - ticks))
	printf '+ CPU ticks over 3 s with pcscd away: %s\n' "$ticks"
	((ticks < 30)) || fail "the watch spins while pcscd is away ($ticks ticks in 3 s)"
	"$PCSCD_PRIVATE" start "$T" "$PORT" >/dev/null
	expect_event '.event == "pcscd-up"' 10 "pcscd back"
	# vcard reconnects by itself; the card that was in before is not a new event, its removal is.
	sleep 1
	kill -USR1 "$VCARD_PID"
	card_out_of_r0 5
	watch_end_clean
}

watch_pcscd_absent_at_start_then_started() {
	setup_pcscd
	"$PCSCD_PRIVATE" stop "$T"
	watch_start_cmd "$UKEY_BIN" watch --json
	check "$(head -n1 "$T/watch.jsonl")" '.event == "pcscd-down"' "first line says pcscd is down"
	"$PCSCD_PRIVATE" start "$T" "$PORT" >/dev/null
	expect_event '.event == "pcscd-up"' 10 "pcscd started"
	vcard_start card
	card_in_r0
	watch_end_clean
}

watch_many_cycles_all_seen() {
	local cycles=${UKEY_WATCH_CYCLES:-30} i
	setup_pcscd
	vcard_start card --start-removed
	watch_start_cmd "$UKEY_BIN" watch --json --no-probe
	for ((i = 1; i <= cycles; i++)); do
		kill -USR2 "$VCARD_PID"
		card_in_r0
		kill -USR1 "$VCARD_PID"
		card_out_of_r0
	done
	watch_end_clean
	local n
	n=$(grep -c '"card-inserted"' "$T/watch.jsonl")
	((n == cycles)) || fail "$n insertions seen for $cycles cycles"
	printf '+ %s insert/remove cycles, each seen once\n' "$cycles"
}

# ---------------------------------------------------------------- diagnosis (issue 7) on the real fixtures

# diagnose_in_bed OUTFILE [ukey args]: `ukey diagnose` in a umockdev testbed with only a USB mouse plugged in
# (nothing token-like at USB level, whatever this machine has); its stdout lands in OUTFILE.
diagnose_in_bed() {
	local out=$1 rc=0
	shift
	[[ -x ${USB_BED:-} ]] || die "USB_BED is not set or not executable (run through ctest)"
	TMPDIR=$T "$USB_BED" -d "$HERE/../usb/logitech-mouse.umockdev" -o "$out" -- "$UKEY_BIN" "$@" \
		</dev/null >"$T/bed.out" 2>>"$T/bed.log" || rc=$?
	printf '+ usb-bed … ukey %s => exit %s\n%s\n' "$*" "$rc" "$(cat "$out")"
	((rc == 0)) || fail "ukey diagnose in the testbed exited $rc"
}

# R-D1: the environment is fine (pcscd answers, the module loads), the light is off, and nothing is seen:
# no token-like USB device, no card in any reader, no token.
diagnose_r_d1_nothing_seen_light_off() {
	setup_pcscd
	diagnose_in_bed "$T/d.json" diagnose --json --led off
	OUT=$(cat "$T/d.json")
	check "$OUT" '.verdict.code == "R-D1" and .verdict.media_fault == true' "verdict R-D1"
	check "$OUT" '[.checks[] | select(.id == "usb-device")][0].status == "fail"' "nothing at USB level"
	check "$OUT" '[.checks[] | select(.id == "pcscd")][0].status == "pass"' "pcscd answers"
	check "$OUT" '.verdict.note == null' "light and evidence agree"
	check "$OUT" '.service.rule == "R-S4"' "damage replacement next"
}

# The same with the light said to be on: still nothing seen, and the verdict says the two disagree.
diagnose_nothing_seen_light_on_disagrees() {
	setup_pcscd
	diagnose_in_bed "$T/d.json" diagnose --json --led steady
	OUT=$(cat "$T/d.json")
	check "$OUT" '.verdict.note | test("R-D1 needs the light off")' "disagreement said"
}

# ENVIRONMENT, not R-D1: nothing is seen, but pcscd is not running; that is fixed here, not by a new key.
diagnose_pcscd_stopped_is_environment() {
	setup_pcscd
	"$PCSCD_PRIVATE" stop "$T"
	diagnose_in_bed "$T/d.json" diagnose --json --led off
	OUT=$(cat "$T/d.json")
	check "$OUT" '.verdict.code == "ENVIRONMENT" and .verdict.media_fault == false' "verdict ENVIRONMENT"
	check "$OUT" '[.checks[] | select(.id == "pcscd")][0] | .status == "fail" and (.fix | test("systemctl start pcscd"))' \
		"pcscd check says how to start it"
}

# R-D2: the environment is up, the card is in the reader with its ATR, but it does not answer.
diagnose_r_d2_mute_card_light_blinking() {
	setup_pcscd
	vcard_start card --mute
	sleep 0.6 # pcscd's poll puts the card in the reader
	ukey diagnose --json --led blinking
	((RC == 0)) || fail "exit $RC"
	check "$OUT" '.verdict.code == "R-D2" and .verdict.media_fault == true' "verdict R-D2"
	check "$OUT" '[.checks[] | select(.id == "card")][0].evidence | test("ATR 3b9f")' "card present with its ATR"
	check "$OUT" '[.checks[] | select(.id == "card-answers")][0].status == "fail"' "the card does not answer"
	check "$OUT" '.verdict.note == null' "blinking light agrees"
	kill -USR1 "$VCARD_PID" # pull the card: ends pcscd's stuck transmit before teardown
}

# The light is said to be steady, but the chip does not answer: the evidence decides, and the note says so.
diagnose_mute_card_light_steady_disagrees() {
	setup_pcscd
	vcard_start card --mute
	sleep 0.6
	ukey diagnose --json --led steady
	check "$OUT" '.verdict.code == "R-D2"' "verdict R-D2"
	check "$OUT" '.verdict.note | test("not blinking")' "disagreement said"
	kill -USR1 "$VCARD_PID"
}

# An answering card that no PKCS#11 module shows: this computer lacks the module, not R-D3.
diagnose_answering_card_without_token_is_environment() {
	setup_pcscd
	vcard_start card
	sleep 0.6
	ukey diagnose --json --led steady
	check "$OUT" '.verdict.code == "ENVIRONMENT"' "verdict ENVIRONMENT"
	check "$OUT" '[.checks[] | select(.id == "card-answers")][0].status == "pass"' "card answers"
	check "$OUT" '[.checks[] | select(.id == "token")][0].status == "fail"' "no token"
}

# ENVIRONMENT, not R-D2: a card another program holds exclusively (a vendor tool) cannot be asked; that is this
# computer's doing, and the verdict says which program's hold to end.
diagnose_exclusive_holder_is_environment() {
	setup_pcscd
	vcard_start card
	sleep 0.6
	mkfifo "$T/hold.fifo"
	"$PCSC_PROBE" --hold-exclusive "$R0" >"$T/hold.fifo" 2>>"$T/hold.log" &
	local holder=$!
	local line
	IFS= read -r -t 5 line <"$T/hold.fifo" || fail "the holder did not start"
	[[ $line == *'"holding"'* ]] || fail "holder said: $line"
	sleep 0.6 # pcscd's next poll shows the reader exclusive
	ukey diagnose --json --led steady
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	((RC == 0)) || fail "exit $RC"
	check "$OUT" '.verdict.code == "ENVIRONMENT" and .verdict.media_fault == false' "verdict ENVIRONMENT, not R-D2"
	check "$OUT" '[.checks[] | select(.id == "exclusive")][0].status == "fail"' "the exclusive hold named"
	check "$OUT" '[.checks[] | select(.id == "card-answers")][0].status == "skipped"' "the chip not judged"
}

[[ $# -eq 1 ]] || die "usage: bash $(basename "$0") CASE_FUNCTION"
declare -F "$1" >/dev/null || die "no case '$1' in $(basename "$0")"
"$1"
printf 'PASS: %s\n' "$1"
