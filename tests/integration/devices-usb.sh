#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ukey devices` and `ukey watch` on emulated USB tokens (umockdev): models by VID:PID, what is missing, hotplug lines.
#
# ctest runs `bash devices-usb.sh CASE_FUNCTION`. The harness is the USB
# fixture's lib-usb.sh: ukey runs as the child of usb-bed, inside a testbed
# whose devices usb-bed plugs and pulls on command. PC/SC points at a socket
# nobody listens on (pcscd "not running") unless a case starts a private
# pcscd, and tokens come from an empty SoftHSM2 store, so the USB part of the
# join is what there is to show. Root only for the cases that run ukey as
# nobody (setpriv) or start a pcscd (a mount namespace).
#
# Environment (set by CMake): UKEY_BIN, USB_BED, USB_PROBE, UKEY_SOFTHSM_MODULE, UKEY_VPCD_LIB, UKEY_SANITIZE (1
# in an ASan + UBSan build); UKEY_USB_CYCLES (default 200) for the cycles case.

source "$(dirname "${BASH_SOURCE[0]}")/../fixtures/usb/lib-usb.sh"

[[ -x ${UKEY_BIN:-} ]] || die "UKEY_BIN is not set or not executable (run the tests through ctest)"

# No user state is read or written; no pcscd; an empty token store. usb-bed passes all of it to ukey.
export HOME=$T/home XDG_CONFIG_HOME=$T/config XDG_STATE_HOME=$T/state
mkdir -p "$HOME" "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$T/tokens" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf UKEY_MODULE=${UKEY_SOFTHSM_MODULE:-}
export PCSCLITE_CSOCK_NAME=$T/none.comm
unset UKEY_MODELS

EPASS_SERIAL=2A1B0E5F0C2D0019
ISO_MS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]{3}Z$'

# devices [usb-bed options] [-- PREFIX...]: `ukey devices --json` (PREFIX runs it, e.g. setpriv; UKEY, when set,
# is the program instead of UKEY_BIN) in a new testbed; OUT, RC. Exit 0 is required.
devices() {
	local opts=() pre=()
	while (($#)); do
		if [[ $1 == -- ]]; then
			shift
			pre=("$@")
			break
		fi
		opts+=("$1")
		shift
	done
	bed_run "${opts[@]}" -- "${pre[@]}" "${UKEY:-$UKEY_BIN}" devices "${DEVICES_ARGS[@]}"
	((RC == 0)) || fail "ukey devices ${DEVICES_ARGS[*]} exit $RC (stderr in bed.stderr.log)"
}
DEVICES_ARGS=(--json)

# devices_text [usb-bed options] [-- PREFIX...]: the same without --json.
devices_text() {
	DEVICES_ARGS=()
	devices "$@"
	DEVICES_ARGS=(--json)
}

# device_at PORT: the joined entry whose USB device is in PORT (from OUT), as one line.
device_at() {
	jq -c --arg p "$1" '.devices[] | select(.usb.port == $p)' <<<"$OUT"
}

# has_line ERE WHAT: some line of OUT matches.
has_line() {
	grep -qE -- "$1" <<<"$OUT" || fail "$2: no line matching /$1/ in:"$'\n'"$OUT"
}

# watch_ukey [usb-bed options]: `ukey watch --json` under a new testbed; returns after its "watching" line.
watch_ukey() {
	bed_watch_start "$@" -- "$UKEY_BIN" watch --json
}

# watch_ukey_end: quits the bed; ukey must exit 0 on SIGTERM (under ASan: no leak); the rest of its lines are kept.
watch_ukey_end() {
	bed_quit_ok
	drain_lines
}

# ---------------------------------------------------------------- ukey devices

usb_ccid_listed_with_model_and_missing_pcscd() {
	local d
	devices -d "$CCID" -d "$MOUSE"
	check "$OUT" '.devices | length == 1' "the ePass2003 listed, the mouse (HID, not a token vendor) left out"
	d=$(device_at 1-2)
	check "$d" '.model.id == "feitian-epass2003" and .model.transport == "ccid"' "the model from VID:PID"
	check "$d" '.usb.vid == "096e" and .usb.pid == "0807" and .usb.classes == ["ccid"] and .usb.descriptors_ok' \
		"USB ids and class"
	check "$d" ".usb.serial == \"$EPASS_SERIAL\" and .usb.product == \"ePass2003\"" "strings from sysfs"
	check "$d" '.reader == null and .token == null' "no reader and no token without pcscd"
	check "$d" '[.missing[].id] | index("pcscd") != null' "pcscd is what is missing"
	check "$d" '[.missing[].id] | index("driver") == null' "not the CCID driver: pcscd is down, not readerless"
	check "$OUT" '.pcscd.running == false and .pcscd.error.id == "pcsc-unavailable"' "pcscd reported down"
	check "$OUT" '.usb.available == true' "USB listed"

	devices_text -d "$CCID" -d "$MOUSE"
	has_line '^Feitian ePass2003 \(ccid\)$' "the model as the heading"
	has_line "^  USB +1-2  096e:0807  Feitian Technologies, Inc\\. ePass2003  serial $EPASS_SERIAL\$" "the USB line"
	has_line "^  missing +pcscd is not running: start it with 'sudo systemctl start pcscd\\.socket'" \
		"the missing line says how to start pcscd"
	if grep -q 046d <<<"$OUT"; then
		fail "the mouse is shown: $OUT"
	fi
}

# ukey_for_nobody: nobody must reach the program and its model database (the build tree may be under /root,
# 0700): a copy in $T/bin/ukey with the build tree's layout, $T/share/ukey/models.conf next to it (ukey links
# system libraries only). Sets NOBODY, the prefix that runs a command as nobody.
ukey_for_nobody() {
	need_root
	mkdir -p "$T/bin" "$T/share/ukey"
	cp "$UKEY_BIN" "$T/bin/ukey"
	cp "$(dirname "$UKEY_BIN")/../share/ukey/models.conf" "$T/share/ukey/"
	chmod -R a+rX "$T"
	NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
}

usb_hid_without_permission_says_udev_rule() {
	local ukey=$T/bin/ukey nodes d
	ukey_for_nobody
	nodes=(-m /dev/bus/usb/001/006=0600) # the Rutoken ECP HID's node, root's only

	UKEY=$ukey devices "${nodes[@]}" -d "$HID"
	d=$(device_at 1-3)
	check "$d" '.model.id == "rutoken-ecp-hid" and .model.transport == "hid"' "the HID token named"
	check "$d" '.usb.classes == ["hid"] and .usb.can_open == true' "root may open a 0600 root node"
	check "$d" '.missing == []' "nothing missing for root"

	UKEY=$ukey devices --allow-other-users "${nodes[@]}" -d "$HID" -- \
		"${NOBODY[@]}"
	d=$(device_at 1-3)
	check "$d" '.model.id == "rutoken-ecp-hid" and .model.transport == "hid"' "named for nobody too"
	check "$d" '.usb.can_open == false' "nobody may not open it"
	check "$d" '[.missing[].id] == ["permission"]' "what nobody lacks is the permission (the udev rule)"

	UKEY=$ukey devices_text --allow-other-users "${nodes[@]}" -d "$HID" -- \
		"${NOBODY[@]}"
	has_line '^Aktiv Rutoken ECP HID \(hid\)$' "the model as the heading"
	has_line "^  missing +This user may not open the key: install ukey's udev rule \\(70-ukey\\.rules\\)" \
		"the text names the udev rule"

	# The mode bits decide, not being nobody: a 0666 node is nobody's to open.
	UKEY=$ukey devices --allow-other-users -m /dev/bus/usb/001/006=0666 -d "$HID" -- \
		"${NOBODY[@]}"
	check "$(device_at 1-3)" '.usb.can_open == true and .missing == []' "a 0666 node: nothing missing"
}

# start_pcscd: a private pcscd (the PC/SC fixture's pcscd-private: two empty vpcd readers, its own mount
# namespace, root only) for the cases that need one running; PCSCLITE_CSOCK_NAME points at it.
PCSCD_PRIVATE=$(dirname "${BASH_SOURCE[0]}")/../fixtures/pcsc/pcscd-private
start_pcscd() {
	local attempt port out rc
	need_root
	[[ -n ${UKEY_VPCD_LIB:-} ]] || die "UKEY_VPCD_LIB is not set (run the tests through ctest)"
	for attempt in 1 2 3 4 5; do
		port=$("$PCSCD_PRIVATE" free-port)
		set +e
		out=$("$PCSCD_PRIVATE" start "$T" "$port")
		rc=$?
		set -e
		if ((rc == 0)); then
			[[ $out == "PCSCLITE_CSOCK_NAME=$T/run/pcscd.comm" ]] || fail "pcscd-private start printed '$out'"
			export PCSCLITE_CSOCK_NAME=$T/run/pcscd.comm
			printf '+ private pcscd on port %s (attempt %s)\n' "$port" "$attempt"
			return 0
		fi
		((rc == 75)) || die "pcscd-private start $T $port failed (exit $rc)"
	done
	die "no free port pair after 5 attempts"
}

teardown_more() {
	[[ ! -e $T/pcscd.pid ]] || "$PCSCD_PRIVATE" stop "$T"
}

usb_ccid_without_reader_says_driver() {
	local d
	start_pcscd
	devices -d "$CCID"
	check "$OUT" '.pcscd.running == true' "pcscd running"
	d=$(device_at 1-2)
	check "$d" '.model.id == "feitian-epass2003" and .reader == null' "the ePass2003, no reader of its own"
	check "$d" '[.missing[].id] == ["driver"]' "pcscd runs but shows no reader for it: the CCID driver is missing"
	check "$OUT" '[.devices[] | select(.usb == null) | .reader.name] | sort == ["Virtual PCD 00 00", "Virtual PCD 00 01"]' \
		"vpcd's readers are entries of their own, not joined to the USB key"
	devices_text -d "$CCID"
	has_line "^  missing +pcscd shows no reader for this key: install the CCID driver \\('sudo apt install libccid'\\)" \
		"the text names libccid"

	# pcscd up: no pcscd-down line before "watching"; USB events as without it
	watch_ukey
	check_lines "$(cat "$T/watch.jsonl")" 'map(.event) == ["watching"]' "nothing before watching while pcscd runs"
	bed add "$CCID"
	next_line '"event":"key-inserted"' 5 "the ePass2003 plugged in with pcscd up"
	check "$EVENT" '.model.id == "feitian-epass2003"' "named"
	watch_ukey_end
}

usb_unavailable_reported_not_fatal() {
	ukey_for_nobody
	# Without --allow-other-users the testbed is root's, 0700: nobody's libusb cannot bind its udev monitor
	# there, so libusb_init fails, as on a machine without usbfs or udev.
	UKEY=$T/bin/ukey devices -d "$CCID" -- "${NOBODY[@]}"
	check "$OUT" '.usb.available == false and .usb.error.id == "usb-unavailable" and .devices == []' \
		"USB reported unavailable, exit 0"
	check "$OUT" '.pcscd.running == false' "the other parts are still reported"
	UKEY=$T/bin/ukey devices_text -d "$CCID" -- "${NOBODY[@]}"
	has_line '^USB: USB devices cannot be listed on this computer\.$' "the text says so"

	bed_watch_start -d "$CCID" -- "${NOBODY[@]}" "$T/bin/ukey" watch --json
	check "$EVENT" '.usb_hotplug == false' "the watch runs on, without USB hotplug, and says so"
	bed_quit_ok
	bed_stop
	bed_start -d "$CCID" -- "${NOBODY[@]}" "$T/bin/ukey" watch
	expect_line '^Watching for keys' 5 "the text watch to start"
	bed_quit_ok
	grep -q '^ukey: USB hotplug is not available (USB devices cannot be listed on this computer); card events still show\.$' \
		"$T/bed.stderr.log" || fail "the text watch does not say that USB hotplug is missing"
}

usb_vendor_class_token_named() {
	local d
	devices -d "$VENDOR"
	check "$OUT" '.devices | length == 1' "one key"
	d=$(device_at 1-4)
	check "$d" '.model.id == "aladdin-etoken-pro-64k" and .model.transport == "vendor"' \
		"a vendor-class (0xFF) token named from VID:PID"
	check "$d" '.model.name == "eToken PRO 64k" and .model.vendor == "Aladdin" and .model.module == null' "its entry"
	check "$d" '.usb.vid == "0529" and .usb.pid == "0600" and .usb.classes == ["vendor"] and .usb.serial == null' \
		"USB ids, class, no serial"
	check "$d" '.missing == []' "root may open it; no CCID, so no pcscd needed"
	devices_text -d "$VENDOR"
	has_line '^Aladdin eToken PRO 64k \(vendor\)$' "the model as the heading"
	has_line '^  USB +1-4  0529:0600  ' "the USB line"
	if grep -q missing <<<"$OUT"; then
		fail "something is said to be missing: $OUT"
	fi
}

usb_garbage_descriptors_shown_not_crashing() {
	local d
	# truncated-config is 096e:0801: no model, but Feitian is a token vendor, so it is shown
	devices -d "$CCID" -d "$TRUNCATED" -d "$GARBAGE"
	check "$OUT" '[.devices[].usb.port] | sort == ["1-2", "1-5"]' \
		"the garbage device is dropped by libusb; the truncated one and the sound one are listed"
	d=$(device_at 1-5)
	check "$d" '.usb.descriptors_ok == false and .usb.classes == [] and .usb.vid == "096e" and .usb.pid == "0801"' \
		"truncated configuration: descriptors_ok false"
	check "$d" '.model == null and .token_vendor == "Feitian Technologies"' "an unknown model of a token vendor"
	check "$(device_at 1-2)" '.model.id == "feitian-epass2003" and .usb.descriptors_ok' "the sound token next to it"
	devices_text -d "$CCID" -d "$TRUNCATED" -d "$GARBAGE"
	has_line '^Unknown model from token vendor Feitian Technologies$' "the heading of the broken one"
	has_line '^  USB +1-5  096e:0801  .*\(descriptors unreadable\)$' "its USB line says so"

	# The same through hotplug: the garbage device gives no line, the truncated one gives its own.
	watch_ukey
	bed add "$GARBAGE"
	bed add "$TRUNCATED"
	next_line '"event":"key-inserted"' 5 "the truncated device, not the garbage one"
	check "$EVENT" '.usb.port == "1-5" and .model == null' "the truncated device, unknown model"
	bed remove "$USB1/1-6"
	bed remove "$USB1/1-5"
	next_line '"event":"key-removed"' 5 "the truncated device's removal"
	check "$EVENT" '.usb.port == "1-5"' "no line for the garbage device's removal"
	bed add "$CCID"
	next_line '"event":"key-inserted"' 5 "a sound token after the broken ones"
	check "$EVENT" '.model.id == "feitian-epass2003"' "still working"
	watch_ukey_end
}

usb_hostile_strings_never_reach_the_terminal() {
	devices_text -d "$HOSTILE"
	has_line '^  USB +1-7  096e:0801  飞天诚信$' "UTF-8 kept; the escape sequence and the non-UTF-8 serial dropped"
	has_line '^  USB +1-8  096e:0801  serial 00000001$' "the 400-byte and the DEL strings dropped"
	if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' <<<"$OUT"; then
		fail "a control character reached the output: $(od -c <<<"$OUT" | head -20)"
	fi
	iconv -f UTF-8 -t UTF-8 <<<"$OUT" >/dev/null || fail "the output is not UTF-8"
	devices -d "$HOSTILE"
	check "$(device_at 1-7)" '.usb.manufacturer == "飞天诚信" and .usb.product == null and .usb.serial == null' "JSON"
}

# ---------------------------------------------------------------- ukey watch

watch_usb_key_inserted_and_removed() {
	local inserted
	watch_ukey
	bed add "$CCID"
	next_line '"event":"key-inserted"' 5 "the ePass2003 plugged in"
	inserted=$EVENT
	check "$EVENT" '.model.id == "feitian-epass2003" and .model.transport == "ccid"' "insertion with the model"
	check "$EVENT" ".usb.vid == \"096e\" and .usb.pid == \"0807\" and .usb.port == \"1-2\" and .usb.serial == \"$EPASS_SERIAL\"" \
		"insertion with the USB ids"
	check "$EVENT" ".time | test(\"$ISO_MS\")" "ISO time with milliseconds"
	check "$EVENT" '.reader == null and .atr == null' "a USB event has no reader or ATR"
	bed remove "$USB1/1-2"
	next_line '"event":"key-removed"' 5 "the ePass2003 pulled"
	check "$EVENT" '.model.id == "feitian-epass2003"' "the removal names the model"
	[[ $(jq -c .usb <<<"$EVENT") == "$(jq -c .usb <<<"$inserted")" ]] ||
		fail "the removal's usb fields differ from the insertion's: $EVENT vs $inserted"
	check "$EVENT" ".time | test(\"$ISO_MS\")" "ISO time with milliseconds"

	# Not a token: no line. The next line after the mouse must be the token's.
	bed add "$MOUSE"
	bed add "$HID"
	next_line '"event":"key-inserted"' 5 "the Rutoken after the mouse"
	check "$EVENT" '.usb.vid == "0a89" and .usb.pid == "0040" and .model.id == "rutoken-ecp-hid"' \
		"the line after the mouse's plugging is the Rutoken's"
	bed remove "$USB1/1-1"
	bed remove "$USB1/1-3"
	next_line '"event":"key-removed"' 5 "the Rutoken pulled after the mouse"
	check "$EVENT" '.usb.vid == "0a89"' "the line after the mouse's pulling is the Rutoken's"
	watch_ukey_end
	if grep -q '"046d"' "$T/watch.jsonl"; then
		fail "a line for the mouse: $(grep '"046d"' "$T/watch.jsonl")"
	fi
}

watch_usb_many_cycles_all_seen() {
	local n=${UKEY_USB_CYCLES:-200} i t lat_in=() lat_out=() rss0='' rss1 inserted removed
	watch_ukey
	for ((i = 1; i <= n; i++)); do
		t=$(now_us)
		bed_send add "$CCID"
		# the very next line each time: a lost, doubled or reordered event fails here
		next_line '^\{"event":"key-inserted",.*"model":\{"id":"feitian-epass2003".*"usb":\{"vid":"096e","pid":"0807","port":"1-2"' \
			5 "insertion $i"
		lat_in+=($(($(now_us) - t)))
		bed_reply add
		t=$(now_us)
		bed_send remove "$USB1/1-2"
		next_line "^\\{\"event\":\"key-removed\",.*\"usb\":\\{\"vid\":\"096e\",\"pid\":\"0807\",\"port\":\"1-2\",.*\"serial\":\"$EPASS_SERIAL\"" \
			5 "removal $i"
		lat_out+=($(($(now_us) - t)))
		bed_reply remove
		((i == 20)) && rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$CHILD_PID/status")
	done
	rss1=$(awk '/^VmRSS/ {print $2}' "/proc/$CHILD_PID/status")
	watch_ukey_end
	inserted=$(grep -c '"event":"key-inserted"' "$T/watch.jsonl")
	removed=$(grep -c '"event":"key-removed"' "$T/watch.jsonl")
	((inserted == n && removed == n)) || fail "$inserted insertions and $removed removals for $n cycles"
	printf '+ %d cycles, each seen once; plug -> line %s; pull -> line %s\n' "$n" \
		"$(printf '%s\n' "${lat_in[@]}" | percentiles)" "$(printf '%s\n' "${lat_out[@]}" | percentiles)"
	if [[ -n $rss0 ]]; then
		printf '+ ukey watch RSS after 20 cycles %s KiB, after %d: %s KiB\n' "$rss0" "$n" "$rss1"
		# Under ASan, LeakSanitizer checks at exit instead (bed_quit_ok wants exit 0).
		if [[ ${UKEY_SANITIZE:-0} != 1 ]]; then
			((rss1 - rss0 < 256)) || fail "ukey watch grew by $((rss1 - rss0)) KiB over $((n - 20)) cycles"
		fi
	fi
}

watch_usb_hotplug_with_pcscd_down_still_works() {
	watch_ukey
	check "$(head -n 1 "$T/watch.jsonl")" '.event == "pcscd-down" and .reader == null and .usb == null' \
		"the first line says pcscd is down"
	check "$EVENT" '.usb_hotplug == true' "USB hotplug works without pcscd"
	bed add "$CCID"
	next_line '"event":"key-inserted"' 5 "an insertion with pcscd down"
	check "$EVENT" '.model.id == "feitian-epass2003" and .usb.port == "1-2"' "the ePass2003"
	bed remove "$USB1/1-2"
	next_line '"event":"key-removed"' 5 "a removal with pcscd down"
	# pcscd stays down: the watch says so once, not at every retry
	expect_quiet 1 "nothing more while nothing changes"
	watch_ukey_end
	(($(grep -c pcscd-down "$T/watch.jsonl") == 1)) || fail "pcscd-down said more than once"
}

watch_usb_text_line_names_model_and_port() {
	bed_start -- "$UKEY_BIN" watch
	next_line '^[0-9:.]{12}  pcscd-down +pcscd is not running; waiting for it$' 5 "pcscd down, in words"
	next_line '^Watching for keys, readers and cards' 5 "the watch to start"
	bed add "$CCID"
	next_line '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}  key-inserted    Feitian ePass2003  usb 096e:0807 1-2$' 5 \
		"one line for the insertion"
	bed remove "$USB1/1-2"
	next_line '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}  key-removed     Feitian ePass2003  usb 096e:0807 1-2$' 5 \
		"one line for the removal"
	watch_ukey_end
}

watch_usb_key_present_at_start_removal_named() {
	watch_ukey -d "$VENDOR" -d "$MOUSE"
	expect_quiet 0.5 "keys present at start are not events"
	bed remove "$USB1/1-4"
	next_line '"event":"key-removed"' 5 "the eToken pulled"
	check "$EVENT" '.model.id == "aladdin-etoken-pro-64k" and .usb.vid == "0529" and .usb.port == "1-4"' \
		"a key present at start leaves named"
	bed remove "$USB1/1-1"
	expect_quiet 0.5 "the mouse leaves without a line"
	watch_ukey_end
}

[[ $# -eq 1 ]] || die "usage: bash $(basename "$0") CASE_FUNCTION"
declare -F "$1" >/dev/null || die "no case '$1' in $(basename "$0")"
"$1"
printf 'PASS: %s\n' "$1"
