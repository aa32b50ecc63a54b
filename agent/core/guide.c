/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The service guide, as the CA's operations manual gives it (service-rules.md R-S1…R-S8, R-D, R-P3, R-R). */
#define _GNU_SOURCE
#include <string.h>
#include <strings.h>

#include "guide.h"

const struct ukey_text ukey_guide_address = {
	"1st floor, Jingban Information Port, No. 3 Yumin East Road, Xicheng District, Beijing",
	"北京市西城区裕民东路3号京版信息港一层",
};

/* The manual's paperwork; the e-seal form only for issue, loss, damage, change and on-site renewal. */
static const struct ukey_text paper_form = { "Unit certificate application form, two copies, sealed",
					     "《单位数字证书申请表》一式两份（加盖单位公章）" };
static const struct ukey_text paper_code = {
	"Copy of the unified social credit code certificate or public institution legal person certificate, "
	"sealed (a unit without one: its parent unit's copy plus an authorisation letter)",
	"《统一社会信用代码证》或《事业单位法人证书》复印件一份（加盖单位公章；没有的单位持上级单位复印件及授权证明）"
};
static const struct ukey_text paper_eseal = { "E-seal sample form", "《单位电子印章采样表》一份" };
static const struct ukey_text paper_id = { "The agent's ID card, original and a copy of both sides, sealed",
					   "经办人有效身份证件原件及复印件一份（正反面复印并加盖公章）" };

static const struct ukey_service services[] = {
	{ "R-S1",
	  "initial-issue",
	  { "Initial issue", "初次办理" },
	  UKEY_WHERE_ON_SITE,
	  { "No key yet", "无需" },
	  260,
	  { "260 CNY per set", "260元/套" },
	  { "A new key and a new certificate; the first-issue date starts the one-year media warranty (R-D4).",
	    "发放新USBKey和新证书；首次发证日期起算一年介质质保期（R-D4）。" },
	  true,
	  true },
	{ "R-S2",
	  "unlock",
	  { "Unlock", "证书解锁" },
	  UKEY_WHERE_ONLINE_OR_ON_SITE,
	  { "On site: bring the locked key", "现场办理：携带原USBKey" },
	  0,
	  { "Free", "免费" },
	  { "The PIN is reset; the certificate is unchanged. Online: request, upload documents, CA review, "
	    "then reset the PIN from the link in the e-mail (R-P3).",
	    "重置证书密码，证书不变。在线：提交申请、上传鉴证资料、CA审核后按邮件链接重置密码（R-P3）。" },
	  true,
	  false },
	{ "R-S3",
	  "loss",
	  { "Loss replacement", "证书丢失补办" },
	  UKEY_WHERE_ON_SITE,
	  { "Lost", "已丢失" },
	  80,
	  { "80 CNY media fee, no service fee", "只收取介质费80元/个，不收取服务费" },
	  { "A new key and certificate with the SAME validity end; the old certificate is revoked automatically "
	    "(R-V1).",
	    "发放新USBKey和证书，有效期不变；原证书自动吊销（R-V1）。" },
	  true,
	  true },
	{ "R-S4",
	  "damage",
	  { "Damage replacement", "证书损坏补办" },
	  UKEY_WHERE_ON_SITE,
	  { "Bring the damaged key for inspection (R-D7)", "携带原USBKey检测鉴定（R-D7）" },
	  -1,
	  { "Free for a media fault within one year of first issue (R-D5); otherwise 80 CNY media fee, no "
	    "service fee (R-D6)",
	    "质保期内的介质质量问题免费（R-D5）；否则收取介质费80元/个，不收服务费（R-D6）" },
	  { "A new key and certificate with the SAME validity end; the old certificate is revoked automatically "
	    "(R-V1).",
	    "发放新USBKey和证书，有效期不变；原证书自动吊销（R-V1）。" },
	  true,
	  true },
	{ "R-S5",
	  "change",
	  { "Information change", "证书信息变更" },
	  UKEY_WHERE_ON_SITE,
	  { "Bring the key", "携带原USBKey" },
	  -1,
	  { "Not given in the manual", "手册未列明" },
	  { "The certificate is re-issued with the changed unit information.", "按变更后的单位信息重新签发证书。" },
	  true,
	  true },
	{ "R-S6",
	  "renewal-on-site",
	  { "Renewal on site", "证书更新（现场）" },
	  UKEY_WHERE_ON_SITE,
	  { "Bring the key (it is reused)", "携带原USBKey（继续使用）" },
	  180,
	  { "180 CNY per year (service fee)", "年服务费180元/张" },
	  { "A new certificate on the old key; the PIN stays (R-P4).", "在原USBKey中更新证书；密码不变（R-P4）。" },
	  true,
	  true },
	{ "R-S7",
	  "renewal-online",
	  { "Renewal online", "证书更新（在线）" },
	  UKEY_WHERE_ONLINE,
	  { "Insert the key in this computer", "将USBKey插入电脑" },
	  -1,
	  { "The product price the portal shows", "以门户显示的产品价格为准" },
	  { "Open when fewer than 90 days are left or expired no more than 365 days (R-R2); unexpired: ends one "
	    "year after the old end (R-R3); expired: one year from download (R-R4); expired longer: documents "
	    "and approval first (R-R5). The PIN stays (R-P4).",
	    "有效期不足90天或过期不超过365天可在线更新（R-R2）；未过期顺延一年（R-R3）；已过期自下载之日起一年（R-R4）；"
	    "过期超过一年需上传鉴证材料并经审核（R-R5）。密码不变（R-P4）。" },
	  false,
	  false },
	{ "R-S8",
	  "revocation",
	  { "Revocation", "证书吊销" },
	  UKEY_WHERE_ON_SITE,
	  { "Not needed", "无需" },
	  -1,
	  { "Not given in the manual", "手册未列明" },
	  { "The certificate is revoked; it also happens automatically after a loss or damage replacement (R-V1, "
	    "R-V2).",
	    "证书被吊销；丢失补办、损坏补办后原证书自动吊销（R-V1、R-V2）。" },
	  true,
	  false },
};

const struct ukey_service *ukey_guide_services(size_t *ret_n)
{
	*ret_n = sizeof(services) / sizeof(services[0]);
	return services;
}

const struct ukey_service *ukey_guide_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(services) / sizeof(services[0]); i++)
		if (strcasecmp(name, services[i].rule) == 0 || strcmp(name, services[i].id) == 0)
			return &services[i];
	return NULL;
}

size_t ukey_guide_paperwork(const struct ukey_service *s, const struct ukey_text **ret, size_t max)
{
	size_t n = 0;

	if (!s->paperwork)
		return 0;
	if (n < max)
		ret[n++] = &paper_form;
	if (n < max)
		ret[n++] = &paper_code;
	if (s->eseal_form && n < max)
		ret[n++] = &paper_eseal;
	if (n < max)
		ret[n++] = &paper_id;
	return n;
}

const char *ukey_guide_where_id(enum ukey_service_where w)
{
	switch (w) {
	case UKEY_WHERE_ON_SITE:
		return "on-site";
	case UKEY_WHERE_ONLINE:
		return "online";
	case UKEY_WHERE_ONLINE_OR_ON_SITE:
		return "online-or-on-site";
	}
	return "unknown";
}
