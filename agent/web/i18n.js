// SPDX-License-Identifier: LGPL-2.1-or-later
// The agent page's words, in English and Simplified Chinese, keyed by message id.
// The Chinese follows the CA manual and agent/po/zh_CN.po: USBKey, 密码, 锁死,
// 证书解锁, 证书更新, 服务网点, 鉴证资料.
//
// A value may use {name} placeholders. For English plurals, an id with ".one"
// is used instead when params.n === 1.

const SERVICE_POINT = "北京市西城区裕民东路3号京版信息港一层";

export const messages = {
	en: {
		"app.title": "ukey — USBKeys and certificates",
		"app.subtitle": "The USBKeys inserted in this computer, their certificates and PINs.",
		"app.privacy": "This page talks only to the ukey agent on this computer. A PIN you type goes to the key once; it is not stored or logged.",
		"lang.label": "Language",

		"conn.connecting": "Connecting to the agent…",
		"conn.open": "Connected to the agent",
		"conn.open.version": "Connected to the agent (ukeyd {version})",
		"conn.reconnecting": "Connection lost: reconnecting in {s} s (try {n})…",
		"conn.reconnecting.now": "Connection lost: reconnecting…",
		"conn.retrying": "The agent does not answer: trying again in {s} s (try {n})…",
		"conn.retrying.now": "The agent does not answer: trying again…",
		"conn.closed": "Not connected to the agent",
		"conn.hint": "Is the agent running? Start it with “systemctl --user start ukeyd”, then this page connects by itself.",

		"tokens.heading": "USBKeys",
		"tokens.loading": "Reading the keys…",
		"tokens.none": "No USBKey is inserted. Insert your key: it appears here by itself.",
		"tokens.error": "The keys cannot be listed: {message}",

		"token.serial": "Serial",
		"token.model": "Model",
		"token.manufacturer": "Manufacturer",
		"token.pin": "PIN",

		"pin.tries": "{n} of {max} tries left",
		"pin.tries.unknown": "? of {max} tries left",
		"pin.locked": "locked",
		"pin.final": "One try left: one more wrong PIN locks the key (R-P1).",
		"lock.count": "This USBKey is locked after {max} consecutive wrong PINs (R-P1).",
		"lock.token": "This USBKey reports itself locked.",
		"lock.rules": "Even the right PIN is refused until it is unlocked (R-P2). Unlocking is free, online or at the service point (R-P3).",
		"lock.online": "Online: submit an unlock request on the CA's portal and upload the supporting documents; after BJCA reviews it you get an authorisation e-mail whose link resets the PIN.",
		"lock.onsite": `At the service point: bring the application form, the unit's certificate copy, the agent's ID card and this USBKey. Address: ${SERVICE_POINT}.`,

		"certs.heading": "Certificates",
		"certs.none": "No certificate on this key.",
		"certs.error": "The certificates cannot be read: {message}",
		"certs.loading": "Reading the certificates…",

		"cert.org": "Organisation",
		"cert.issuer": "Issuer",
		"cert.valid": "Valid",
		"cert.valid.range": "{from} to {to} (UTC)",
		"cert.serial": "Serial",
		"cert.key": "Key",
		"cert.daysleft": "{n} days left",
		"cert.daysleft.one": "1 day left",
		"cert.daysago": "expired {n} days ago",
		"cert.daysago.one": "expired 1 day ago",

		"badge.valid": "Valid",
		"badge.expiring": "Expiring · renewal open",
		"badge.expired": "Expired · renewal open",
		"badge.expired.documents": "Expired · documents needed",
		"badge.not-yet-valid": "Not yet valid",
		"badge.unreadable": "Unreadable",

		"status.valid": "Valid, {n} days left. Online renewal opens on {date}, when fewer than 90 days are left (R-R2).",
		"status.valid.one": "Valid, 1 day left. Online renewal opens on {date}, when fewer than 90 days are left (R-R2).",
		"status.expiring": "Expiring: renewal open, fewer than 90 days left ({n} days). Renew online now with the key inserted (R-R2); the new certificate ends one year after this one's end date (R-R3).",
		"status.expiring.one": "Expiring: renewal open, fewer than 90 days left (1 day). Renew online now with the key inserted (R-R2); the new certificate ends one year after this one's end date (R-R3).",
		"status.expired": "Expired {n} days ago: online renewal is still open, up to 365 days after expiry (R-R2); the new certificate runs one year from the day it is downloaded (R-R4).",
		"status.expired.one": "Expired 1 day ago: online renewal is still open, up to 365 days after expiry (R-R2); the new certificate runs one year from the day it is downloaded (R-R4).",
		"status.expired.documents": "Expired {n} days ago: renewal needs documents (R-R5). Upload the supporting documents online; after BJCA approves, download the certificate from 管理中心 → 我的订单 → 未完成订单.",
		"status.not-yet-valid": "Not valid yet: valid from {date}.",
		"status.unreadable": "Not a valid X.509 certificate. If the key's light is normal, this may be a media fault (the certificate cannot be recognised, R-D3): bring the key to the service point.",

		"renew.button": "Renew online",
		"renew.opens": "Opens on {date} (R-R2).",
		"renew.title": "Renew the certificate online",
		"renew.waiting": "A renewal of this key was begun and not finished ({state}): “Renew online” finishes it with the PIN.",
		"renew.waiting.ca": "This key's renewal waits at the CA (R-R6): after {time}, “Renew online” finishes it with the PIN.",
		"renew.checking": "Reading the certificate on the key…",
		"renew.cert": "Certificate",
		"renew.ends": "Ends now",
		"renew.new-end": "New end date",
		"renew.rule": "Rule",
		"renew.rule.R-R3": "one year after the current end date (R-R3)",
		"renew.rule.R-R4": "one year from the day of the download, as the certificate has expired (R-R4)",
		"renew.pin-same": "Your PIN stays the same (R-P4).",
		"renew.what": "The key makes a new key pair, the CA issues the new certificate onto the key, then the old certificate and key are removed.",
		"renew.resume": "A renewal of this key was begun and not finished ({state}): “Renew now” finishes it.",
		"renew.pin": "PIN",
		"renew.pin.hint": "The key checks the PIN: a wrong one counts ({max} in a row lock the key, R-P1).",
		"renew.submit": "Renew now",
		"renew.cancel": "Cancel",
		"renew.close": "Close",
		"renew.retry": "Try again",
		"renew.progress": "Step {i} of {n}",
		"renew.step.login": "Check the PIN",
		"renew.step.keygen": "Generate a new key pair on the key",
		"renew.step.request": "Ask the CA for the new certificate",
		"renew.step.verify": "Check the new certificate",
		"renew.step.write": "Write the new certificate onto the key",
		"renew.step.remove-old": "Remove the old certificate and key",
		"renew.step.done": "Done",
		"renew.running": "Renewing: keep the key inserted until the last step is done.",
		"renew.done": "Renewed: the new certificate is on the key and ends on {date}; your PIN is unchanged (R-P4).",
		"renew.warning": "The CA's note",
		"renew.err.not-open": "Online renewal is not open yet: it opens on {date}, when fewer than 90 days are left (R-R2).",
		"renew.err.not-open.R-R5": "Expired more than 365 days ago, so online renewal is closed: renewal needs documents and BJCA's approval (R-R5).",
		"renew.err.pending": "The CA holds the order (payment, or documents and approval, R-R6): try again later; the old certificate still works.",
		"renew.err.no-ca": "This agent has no CA configured: start ukeyd with --ca-url (and --ca-trust), then try again.",
		"renew.err.ca-unreachable": "The CA cannot be reached: check the network and try again; the old certificate still works.",
		"renew.err.ca-untrusted": "The CA's certificate is not trusted (check the agent's --ca-trust and this computer's clock): nothing was renewed and the old certificate still works.",
		"renew.err.ca-refused": "The CA refused the renewal ({reason}): the old certificate still works.",
		"renew.err.ca-refused.plain": "The CA refused the renewal: the old certificate still works.",
		"renew.err.ca-failed": "The CA failed to answer: try again later; the old certificate still works.",
		"renew.err.ca-bad-response": "The CA's answer cannot be used, so nothing was written to the key: try again later; the old certificate still works.",
		"renew.err.pin-incorrect": "Wrong PIN: {n} tries left before the key locks (R-P1); nothing was changed.",
		"renew.err.pin-incorrect.one": "Wrong PIN: 1 try left, one more wrong PIN locks the key (R-P1); nothing was changed.",
		"renew.err.token-removed": "The key was removed during the renewal: insert it again and choose “Renew online” to finish; the old certificate still works.",
		"renew.err.connection": "The connection to the agent broke during the renewal: look at the certificate above, then choose “Renew online” again to finish; the old certificate still works.",

		"keymatch.match": "{type}, matches the key pair on the key",
		"keymatch.mismatch": "{type}, does NOT match the key pair on the key",
		"keymatch.unknown": "{type}, no public key object to compare with",

		"form.verify.title": "Check the PIN",
		"form.verify.label": "PIN",
		"form.verify.button": "Check",
		"form.verify.hint": "Every wrong PIN counts: {max} in a row lock the key (R-P1).",
		"form.change.title": "Change the PIN",
		"form.change.current": "Current PIN",
		"form.change.new": "New PIN",
		"form.change.again": "New PIN again",
		"form.change.button": "Change PIN",
		"form.locked": "PIN entry is off while the key is locked.",
		"form.offline": "Not connected to the agent: PIN entry is off until the connection is back.",
		"form.busy": "Asking the key…",

		"msg.verified": "PIN correct: {n} of {max} tries left.",
		"msg.changed": "PIN changed; an online certificate renewal keeps it (R-P4).",
		"msg.mismatch": "The two new PINs differ: nothing was changed and no try was used.",
		"msg.empty": "Type the PIN first: nothing was sent to the key.",

		"err.pin-incorrect": "Wrong PIN: {n} tries left before the key locks.",
		"err.pin-incorrect.one": "Wrong PIN: 1 try left; one more wrong PIN locks the key (R-P1).",
		"err.pin-incorrect.locked": "Wrong PIN: that was the last try and the key is now locked (R-P1); unlocking is free, online or at the service point (R-P3).",
		"err.pin-incorrect.unknown": "Wrong PIN (R-P1).",
		"err.pin-locked": "This USBKey is locked (R-P2): nothing was sent to the key. Unlocking is free, online or at the service point (R-P3).",
		"err.pin-invalid": "That PIN cannot be right (empty, too long, too short, or with control characters): it was not sent to the key and no try was used.",
		"err.no-token": "No USBKey is inserted: insert the key and try again.",
		"err.token-not-found": "This USBKey is not inserted any more: insert it again and retry.",
		"err.token-ambiguous": "Several keys match: choose one by its serial.",
		"err.token-removed": "The key was removed during the operation: insert it again and retry.",
		"err.token-removed.tries": "The key was removed during the PIN check: the try counts ({n} left); insert the key again and retry.",
		"err.token-failed": "The key did not answer correctly: remove it, insert it again and retry; if it keeps failing, bring the key to the service point.",
		"err.state-unavailable": "The agent cannot record PIN tries, so it refuses the PIN (no try may go uncounted): check the agent's state directory.",
		"err.state-corrupt": "The agent's state database is damaged, so it refuses the PIN (no try may go uncounted).",
		"err.unsupported": "The key or its module does not support this.",
		"err.busy": "The agent is busy: wait a moment and try again.",
		"err.rate-limited": "Too many requests: wait a moment and try again.",
		"err.connection": "The connection to the agent broke during the call: the try may have been counted. Look at the tries left before you try again.",
		"err.not-connected": "Not connected to the agent: nothing was sent to the key.",
		"err.generic": "The agent answered with an error: {message}",

		"dev.key-inserted": "Key inserted: {name}",
		"dev.key-removed": "Key removed: {name}",
		"dev.reader-added": "Card reader connected: {name}",
		"dev.reader-removed": "Card reader disconnected: {name}",
		"dev.card-inserted": "Card inserted: {name}",
		"dev.card-removed": "Card removed: {name}",
		"dev.card-mute": "Card does not answer (mute): {name}. Remove and insert it again; if it stays mute, run the diagnosis below.",
		"dev.pcscd-down": "pcscd is not running: keys used through a card reader cannot be reached until it is back.",
		"dev.pcscd-up": "pcscd is running again.",
		"dev.other": "Device event: {event} ({name})",
		"dev.unknown": "unknown device",

		"diag.heading": "Diagnose a key",
		"diag.intro": "For the technician: checks this computer, the reader and the key, and tells which service rule applies (R-D1 to R-D7).",
		"diag.token": "Key to diagnose",
		"diag.led": "The key's indicator light",
		"diag.led.off": "Off",
		"diag.led.blinking": "Blinking",
		"diag.led.steady": "Steady",
		"diag.led.unknown": "Don't know",
		"diag.first": "First issued (optional)",
		"diag.first.hint": "Leave empty to use the date recorded on the key, if any. The warranty is one year from the first issue (R-D4).",
		"diag.run": "Diagnose",
		"diag.busy": "Diagnosing: this can take a few seconds…",
		"diag.bad-date": "Enter a whole date (year, month and day), or leave the field empty.",
		"diag.offline": "Not connected to the agent: the diagnosis is off until the connection is back.",
		"diag.result": "Diagnosis",
		"diag.media-fault": "media fault",
		"diag.note": "Note",
		"diag.key": "Key",
		"diag.model": "Model",
		"diag.time": "Diagnosed",
		"diag.led.stated": "Indicator light (as stated)",
		"diag.nokey": "no key",
		"diag.warranty": "Warranty and fee",
		"diag.first-issued": "First issued",
		"diag.first-issued.value": "{date} ({source})",
		"diag.source.token": "recorded on the key",
		"diag.source.flag": "as entered",
		"diag.until": "Out of warranty from (R-D4)",
		"diag.in-warranty": "In warranty",
		"diag.yes": "yes",
		"diag.no": "no",
		"diag.unknown": "unknown: enter the first-issue date",
		"diag.fee": "Media fee if replaced",
		"diag.fee.value": "{fee} CNY ({rule})",
		"diag.next": "Next service",
		"diag.next.none": "Nothing to do.",
		"diag.checks": "Checks",
		"diag.col.check": "Check",
		"diag.col.status": "Result",
		"diag.col.evidence": "Evidence",
		"diag.col.fix": "What to do",
		"diag.status.pass": "pass",
		"diag.status.warn": "warning",
		"diag.status.fail": "fail",
		"diag.status.skipped": "skipped",
		"diag.layer.environment": "Computer",
		"diag.layer.usb": "USB",
		"diag.layer.reader": "Reader",
		"diag.layer.pkcs11": "PKCS#11",
		"diag.layer.certificate": "Certificate",
		"diag.report": "Printable report",
		"report.title": "Diagnosis report",
		"report.print": "Print",
		"report.close": "Close",
		"report.frame": "The diagnosis report, as it is printed",
	},

	zh_CN: {
		"app.title": "ukey — USBKey 与数字证书",
		"app.subtitle": "本机已插入的 USBKey、其中的数字证书及密码状态。",
		"app.privacy": "本页面只与本机的 ukey 服务通信。您输入的密码仅发送至 USBKey 一次，不会被保存或记录。",
		"lang.label": "语言",

		"conn.connecting": "正在连接本机 ukey 服务…",
		"conn.open": "已连接本机 ukey 服务",
		"conn.open.version": "已连接本机 ukey 服务（ukeyd {version}）",
		"conn.reconnecting": "连接已断开：{s} 秒后重新连接（第 {n} 次）…",
		"conn.reconnecting.now": "连接已断开：正在重新连接…",
		"conn.retrying": "ukey 服务无响应：{s} 秒后重试（第 {n} 次）…",
		"conn.retrying.now": "ukey 服务无响应：正在重试…",
		"conn.closed": "未连接本机 ukey 服务",
		"conn.hint": "ukey 服务是否在运行？可执行 “systemctl --user start ukeyd” 启动，本页面会自动连接。",

		"tokens.heading": "USBKey",
		"tokens.loading": "正在读取 USBKey…",
		"tokens.none": "未插入 USBKey。插入后会自动显示在这里。",
		"tokens.error": "无法列出 USBKey：{message}",

		"token.serial": "序列号",
		"token.model": "型号",
		"token.manufacturer": "制造商",
		"token.pin": "密码",

		"pin.tries": "剩余 {n}/{max} 次",
		"pin.tries.unknown": "剩余 ?/{max} 次",
		"pin.locked": "已锁死",
		"pin.final": "仅剩 1 次尝试机会：再输错一次密码，USBKey 将被锁死 (R-P1)。",
		"lock.count": "此 USBKey 已因连续输错 {max} 次密码而锁死 (R-P1)。",
		"lock.token": "此 USBKey 报告自身已锁死。",
		"lock.rules": "解锁之前，即使输入正确的密码也会被拒绝 (R-P2)；可在线或到服务网点免费办理证书解锁 (R-P3)。",
		"lock.online": "在线办理：在证书服务平台提交在线解锁申请并按页面要求上传鉴证资料，BJCA 审核授权后会发送授权邮件，通过邮件中的链接重置密码。",
		"lock.onsite": `到服务网点办理：携带申请表、单位证件复印件、经办人身份证及此 USBKey。服务网点地址：${SERVICE_POINT}。`,

		"certs.heading": "证书",
		"certs.none": "此 USBKey 中没有证书。",
		"certs.error": "无法读取证书：{message}",
		"certs.loading": "正在读取证书…",

		"cert.org": "单位",
		"cert.issuer": "颁发者",
		"cert.valid": "有效期",
		"cert.valid.range": "{from} 至 {to}（UTC）",
		"cert.serial": "序列号",
		"cert.key": "密钥",
		"cert.daysleft": "剩余 {n} 天",
		"cert.daysago": "已过期 {n} 天",

		"badge.valid": "有效",
		"badge.expiring": "即将到期 · 可在线更新",
		"badge.expired": "已过期 · 可在线更新",
		"badge.expired.documents": "已过期 · 需鉴证资料",
		"badge.not-yet-valid": "尚未生效",
		"badge.unreadable": "无法读取",

		"status.valid": "有效，剩余 {n} 天。剩余不足 90 天时（{date} 起）可在线办理证书更新 (R-R2)。",
		"status.expiring": "即将到期：剩余 {n} 天，已不足 90 天，现可插入 USBKey 在线办理证书更新 (R-R2)；新证书有效期在原证书截止日期的基础上顺延一年 (R-R3)。",
		"status.expired": "已过期 {n} 天：过期未超过 1 年（365 天），仍可在线办理证书更新 (R-R2)；新证书有效期自下载之日起计算一年 (R-R4)。",
		"status.expired.documents": "已过期 {n} 天：证书更新需提交鉴证资料 (R-R5)。请在线上传鉴证资料，BJCA 审核通过后，在【管理中心】-【我的订单】-【未完成订单】处下载新证书。",
		"status.not-yet-valid": "尚未生效：自 {date} 起生效。",
		"status.unreadable": "不是有效的 X.509 证书。若指示灯正常，可能属于介质质量问题（无法识别证书，R-D3）：请携带 USBKey 到服务网点检测。",

		"renew.button": "在线更新",
		"renew.opens": "{date} 起可在线更新 (R-R2)。",
		"renew.title": "在线更新证书",
		"renew.waiting": "此 USBKey 有一次未完成的证书更新（{state}）：点击“在线更新”并输入密码即可继续完成。",
		"renew.waiting.ca": "此 USBKey 的证书更新订单正在 CA 处等待 (R-R6)：{time} 之后点击“在线更新”并输入密码即可继续完成。",
		"renew.checking": "正在读取 USBKey 中的证书…",
		"renew.cert": "证书",
		"renew.ends": "当前截止日期",
		"renew.new-end": "新证书截止日期",
		"renew.rule": "规则",
		"renew.rule.R-R3": "在原证书截止日期的基础上顺延一年 (R-R3)",
		"renew.rule.R-R4": "证书已过期，新证书有效期自下载之日起计算一年 (R-R4)",
		"renew.pin-same": "更新后密码保持不变 (R-P4)。",
		"renew.what": "USBKey 将生成新密钥对，CA 签发新证书并写入 USBKey，随后删除旧证书和旧密钥。",
		"renew.resume": "此 USBKey 有一次未完成的证书更新（{state}）：点击“立即更新”即可继续完成。",
		"renew.pin": "密码",
		"renew.pin.hint": "密码由 USBKey 验证：输错会计数（连续输错 {max} 次，USBKey 将被锁死，R-P1）。",
		"renew.submit": "立即更新",
		"renew.cancel": "取消",
		"renew.close": "关闭",
		"renew.retry": "重试",
		"renew.progress": "第 {i} 步，共 {n} 步",
		"renew.step.login": "验证密码",
		"renew.step.keygen": "在 USBKey 中生成新密钥对",
		"renew.step.request": "向 CA 申请新证书",
		"renew.step.verify": "检查新证书",
		"renew.step.write": "将新证书写入 USBKey",
		"renew.step.remove-old": "删除旧证书和旧密钥",
		"renew.step.done": "完成",
		"renew.running": "正在更新：完成最后一步之前，请勿拔出 USBKey。",
		"renew.done": "更新成功：新证书已写入 USBKey，有效期至 {date}；密码保持不变 (R-P4)。",
		"renew.warning": "CA 的说明",
		"renew.err.not-open": "暂不能在线更新：剩余不足 90 天时（{date} 起）方可在线更新 (R-R2)。",
		"renew.err.not-open.R-R5": "证书过期已超过 365 天，不能在线更新：需提交鉴证资料，经 BJCA 审核后办理 (R-R5)。",
		"renew.err.pending": "CA 正在处理该订单（待缴费，或待提交资料和审核，R-R6）：请稍后重试，原证书仍可使用。",
		"renew.err.no-ca": "本机 ukey 服务未配置 CA：请使用 --ca-url（及 --ca-trust）启动 ukeyd 后重试。",
		"renew.err.ca-unreachable": "无法连接 CA：请检查网络后重试，原证书仍可使用。",
		"renew.err.ca-untrusted": "CA 的证书不受信任（请检查 ukey 服务的 --ca-trust 和本机时钟）：证书未更新，原证书仍可使用。",
		"renew.err.ca-refused": "CA 拒绝了更新请求（{reason}）：原证书仍可使用。",
		"renew.err.ca-refused.plain": "CA 拒绝了更新请求：原证书仍可使用。",
		"renew.err.ca-failed": "CA 未能处理请求：请稍后重试，原证书仍可使用。",
		"renew.err.ca-bad-response": "CA 的应答无法使用，未向 USBKey 写入任何内容：请稍后重试，原证书仍可使用。",
		"renew.err.pin-incorrect": "密码错误：还可尝试 {n} 次，用完后 USBKey 将被锁死 (R-P1)；证书未做任何更改。",
		"renew.err.token-removed": "更新过程中 USBKey 被拔出：请重新插入，再点击“在线更新”继续完成；原证书仍可使用。",
		"renew.err.connection": "更新过程中与 ukey 服务的连接中断：请查看上方证书，再点击“在线更新”继续完成；原证书仍可使用。",

		"keymatch.match": "{type}，与 USBKey 中的密钥对匹配",
		"keymatch.mismatch": "{type}，与 USBKey 中的密钥对不匹配",
		"keymatch.unknown": "{type}，没有可供比对的公钥对象",

		"form.verify.title": "验证密码",
		"form.verify.label": "密码",
		"form.verify.button": "验证",
		"form.verify.hint": "每次输错都会计数：连续输错 {max} 次，USBKey 将被锁死 (R-P1)。",
		"form.change.title": "修改密码",
		"form.change.current": "当前密码",
		"form.change.new": "新密码",
		"form.change.again": "再次输入新密码",
		"form.change.button": "修改密码",
		"form.locked": "USBKey 已锁死，暂不能输入密码。",
		"form.offline": "未连接本机 ukey 服务：连接恢复前暂不能输入密码。",
		"form.busy": "正在与 USBKey 通信…",

		"msg.verified": "密码正确：还可尝试 {n} 次（共 {max} 次）。",
		"msg.changed": "密码已修改；证书在线更新后密码不变 (R-P4)。",
		"msg.mismatch": "两次输入的新密码不一致：密码未修改，也未消耗尝试次数。",
		"msg.empty": "请先输入密码：未向 USBKey 发送任何内容。",

		"err.pin-incorrect": "密码错误：还可尝试 {n} 次，用完后 USBKey 将被锁死。",
		"err.pin-incorrect.one": "密码错误：还可尝试 1 次；再输错一次密码，USBKey 将被锁死 (R-P1)。",
		"err.pin-incorrect.locked": "密码错误：最后一次尝试机会已用完，USBKey 现已锁死 (R-P1)；可在线或到服务网点免费办理证书解锁 (R-P3)。",
		"err.pin-incorrect.unknown": "密码错误 (R-P1)。",
		"err.pin-locked": "此 USBKey 已锁死 (R-P2)：未向 USBKey 发送任何内容。可在线或到服务网点免费办理证书解锁 (R-P3)。",
		"err.pin-invalid": "该密码不可能正确（为空、过长、过短或含控制字符）：未发送到 USBKey，也未消耗尝试次数。",
		"err.no-token": "未插入 USBKey：请插入 USBKey 后重试。",
		"err.token-not-found": "此 USBKey 已不在本机：请重新插入后重试。",
		"err.token-ambiguous": "有多个 USBKey 符合条件：请按序列号选择其中一个。",
		"err.token-removed": "操作过程中 USBKey 被拔出：请重新插入后重试。",
		"err.token-removed.tries": "USBKey 在校验密码时被拔出：本次尝试已计数（还剩 {n} 次）；请重新插入 USBKey 后重试。",
		"err.token-failed": "USBKey 未正确响应：请拔出后重新插入再试；如仍然失败，请携带该 USBKey 前往服务网点。",
		"err.state-unavailable": "ukey 服务无法记录密码尝试次数：为确保每次尝试都被计数，现拒绝输入密码；请检查其状态目录。",
		"err.state-corrupt": "ukey 服务的状态数据库已损坏：为确保每次尝试都被计数，现拒绝输入密码。",
		"err.unsupported": "USBKey 或其模块不支持此操作。",
		"err.busy": "ukey 服务繁忙：请稍候再试。",
		"err.rate-limited": "请求过于频繁：请稍候再试。",
		"err.connection": "与 ukey 服务的连接在操作过程中中断：本次尝试可能已被计数。再次尝试前，请先查看剩余尝试次数。",
		"err.not-connected": "未连接本机 ukey 服务：未向 USBKey 发送任何内容。",
		"err.generic": "ukey 服务返回错误：{message}",

		"dev.key-inserted": "USBKey 已插入：{name}",
		"dev.key-removed": "USBKey 已拔出：{name}",
		"dev.reader-added": "读卡器已连接：{name}",
		"dev.reader-removed": "读卡器已断开：{name}",
		"dev.card-inserted": "卡片已插入：{name}",
		"dev.card-removed": "卡片已移除：{name}",
		"dev.card-mute": "卡片无应答：{name}。请拔出后重新插入；如仍无应答，请在下方进行检测。",
		"dev.pcscd-down": "智能卡服务 pcscd 未运行：恢复运行之前，无法访问通过读卡器连接的 USBKey。",
		"dev.pcscd-up": "智能卡服务 pcscd 已恢复运行。",
		"dev.other": "设备事件：{event}（{name}）",
		"dev.unknown": "未知设备",

		"diag.heading": "USBKey 检测",
		"diag.intro": "供技术人员使用：检查本机环境、读卡器和 USBKey，并给出适用的服务规则（R-D1 至 R-D7）。",
		"diag.token": "待检测的 USBKey",
		"diag.led": "USBKey 指示灯",
		"diag.led.off": "不亮",
		"diag.led.blinking": "闪烁",
		"diag.led.steady": "常亮",
		"diag.led.unknown": "不清楚",
		"diag.first": "首次签发日期（可选）",
		"diag.first.hint": "留空则使用 USBKey 中记录的日期（如有）。质保期为首次签发之日起一年 (R-D4)。",
		"diag.run": "开始检测",
		"diag.busy": "正在检测，可能需要几秒钟…",
		"diag.bad-date": "请输入完整的日期（年、月、日），或留空。",
		"diag.offline": "未连接本机 ukey 服务：连接恢复前暂不能检测。",
		"diag.result": "检测结果",
		"diag.media-fault": "介质质量问题",
		"diag.note": "注",
		"diag.key": "USBKey",
		"diag.model": "型号",
		"diag.time": "检测时间",
		"diag.led.stated": "指示灯（据陈述）",
		"diag.nokey": "无 USBKey",
		"diag.warranty": "保修与费用",
		"diag.first-issued": "首次签发日期",
		"diag.first-issued.value": "{date}（{source}）",
		"diag.source.token": "USBKey 中记录",
		"diag.source.flag": "手工填写",
		"diag.until": "保修失效日期 (R-D4)",
		"diag.in-warranty": "在保修期内",
		"diag.yes": "是",
		"diag.no": "否",
		"diag.unknown": "未知：请填写首次签发日期",
		"diag.fee": "更换介质费",
		"diag.fee.value": "{fee} 元（{rule}）",
		"diag.next": "下一步办理",
		"diag.next.none": "无需办理。",
		"diag.checks": "检查项",
		"diag.col.check": "检查",
		"diag.col.status": "结果",
		"diag.col.evidence": "依据",
		"diag.col.fix": "处理方法",
		"diag.status.pass": "通过",
		"diag.status.warn": "警告",
		"diag.status.fail": "未通过",
		"diag.status.skipped": "跳过",
		"diag.layer.environment": "本机环境",
		"diag.layer.usb": "USB",
		"diag.layer.reader": "读卡器",
		"diag.layer.pkcs11": "PKCS#11",
		"diag.layer.certificate": "证书",
		"diag.report": "打印报告",
		"report.title": "检测报告",
		"report.print": "打印",
		"report.close": "关闭",
		"report.frame": "检测报告（打印样式）",
	},
};

export const LANGS = ["zh_CN", "en"];
const STORAGE_KEY = "ukey.lang";

/** The language from navigator.language: zh* → zh_CN, else en. */
export function detectLang(nav = globalThis.navigator) {
	const l = (nav && (nav.language || (nav.languages && nav.languages[0]))) || "";
	return /^zh\b/i.test(l) ? "zh_CN" : "en";
}

/** The language remembered by the toggle, else the browser's. Only the language is stored. */
export function initialLang() {
	try {
		const saved = globalThis.localStorage && localStorage.getItem(STORAGE_KEY);
		if (saved && messages[saved])
			return saved;
	} catch {
		/* storage off: fine */
	}
	return detectLang();
}

let current = "en";

export function getLang() {
	return current;
}

/** Switch language; remember = store the choice (the toggle does, detection does not). */
export function setLang(lang, { remember = false } = {}) {
	if (!messages[lang])
		lang = "en";
	current = lang;
	if (remember) {
		try {
			localStorage.setItem(STORAGE_KEY, lang);
		} catch {
			/* storage off: the choice lasts for this page only */
		}
	}
	return current;
}

/** The BCP 47 tag for <html lang>. */
export function htmlLang(lang = current) {
	return lang === "zh_CN" ? "zh-CN" : "en";
}

/**
 * The text of message id in the current language, with {name} filled from params.
 * Falls back to English, then to the id itself.
 */
export function t(id, params = {}) {
	const dict = messages[current] || messages.en;
	let key = id;
	if (params.n === 1 && dict[`${id}.one`] !== undefined)
		key = `${id}.one`;
	let s = dict[key];
	if (s === undefined)
		s = messages.en[key] !== undefined ? messages.en[key] : messages.en[id];
	if (s === undefined)
		return id;
	return s.replace(/\{(\w+)\}/g, (m, name) => (params[name] !== undefined && params[name] !== null ? String(params[name]) : m));
}
