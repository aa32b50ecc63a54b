/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* X.509 work of the reference CA, all of it through OpenSSL: keys, certificates, CSR checks, PKCS#7, CRL, OCSP. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "date.h"

/* A PEM file the admin hands us larger than this is not a CSR. */
#define REFCA_MAX_PEM_FILE (64 * 1024)

struct refca_ca {
	X509 *cert;
	EVP_PKEY *key;
	X509_STORE *store; /* the CA certificate alone: what client certificates must chain to */
};

static int write_pem(const char *dir, const char *name, mode_t mode, EVP_PKEY *key, X509 *cert)
{
	char path[PATH_MAX];
	FILE *f;
	int fd, ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	/* O_EXCL: init never overwrites a CA that exists. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok)
		return -EIO;
	return 0;
}

static int add_ext(X509 *issuer, X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* A random positive 16-byte serial whose first byte is never zero (always 32 hex digits). */
static int set_random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	ASN1_INTEGER *ai = NULL;
	int ok = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[0] = (unsigned char)((b[0] & 0x3f) | 0x40);
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	if (ai)
		ok = X509_set_serialNumber(x, ai);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok ? 0 : -ENOMEM;
}

static int set_validity(X509 *x, long not_before, long not_after)
{
	if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t)refca_date_start(not_before)) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)refca_date_end(not_after)))
		return -EINVAL;
	return 0;
}

static int name_cn(X509_NAME **ret, const char *cn, const char *o)
{
	X509_NAME *n = X509_NAME_new();

	if (!n || !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0)) {
		X509_NAME_free(n);
		return -ENOMEM;
	}
	*ret = n;
	return 0;
}

static EVP_PKEY *keygen(bool ec, size_t rsa_bits)
{
	return ec ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", rsa_bits);
}

int refca_ca_init(const char *dir, bool ec)
{
	EVP_PKEY *cakey = NULL, *srvkey = NULL;
	X509 *ca = NULL, *srv = NULL;
	X509_NAME *name = NULL;
	long today = refca_date_today_utc(), end;
	int r = -ENOMEM;

	cakey = keygen(ec, 3072);
	srvkey = keygen(ec, 2048);
	ca = X509_new();
	srv = X509_new();
	if (!cakey || !srvkey || !ca || !srv)
		goto out;

	/*
	 * The root: 20 years, starting two years back so that the backdated
	 * certificates tests issue (expired 366 days ...) lie inside it.
	 */
	end = today - 731;
	for (int i = 0; i < 20; i++)
		end = refca_date_add_year(end);
	if ((r = name_cn(&name, "ukey Reference CA", "ukey")) < 0)
		goto out;
	if (!X509_set_version(ca, X509_VERSION_3) || set_random_serial(ca) < 0 || !X509_set_subject_name(ca, name) ||
	    !X509_set_issuer_name(ca, name) || !X509_set_pubkey(ca, cakey) || set_validity(ca, today - 731, end) < 0 ||
	    add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
	    add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") < 0 ||
	    add_ext(ca, ca, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(ca, ca, NID_authority_key_identifier, "keyid:always") < 0 || !X509_sign(ca, cakey, EVP_sha256())) {
		r = -EIO;
		goto out;
	}
	X509_NAME_free(name);
	name = NULL;

	/* The TLS server certificate: every loopback name a client may use. */
	end = today;
	for (int i = 0; i < 10; i++)
		end = refca_date_add_year(end);
	if ((r = name_cn(&name, "localhost", "ukey Reference CA")) < 0)
		goto out;
	if (!X509_set_version(srv, X509_VERSION_3) || set_random_serial(srv) < 0 || !X509_set_subject_name(srv, name) ||
	    !X509_set_issuer_name(srv, X509_get_subject_name(ca)) || !X509_set_pubkey(srv, srvkey) ||
	    set_validity(srv, today - 1, end) < 0 || add_ext(ca, srv, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(ca, srv, NID_key_usage,
		    ec ? "critical,digitalSignature" : "critical,digitalSignature,keyEncipherment") < 0 ||
	    add_ext(ca, srv, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(ca, srv, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost") < 0 ||
	    add_ext(ca, srv, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(ca, srv, NID_authority_key_identifier, "keyid:always") < 0 ||
	    !X509_sign(srv, cakey, EVP_sha256())) {
		r = -EIO;
		goto out;
	}

	if ((r = write_pem(dir, "ca.key", 0600, cakey, NULL)) < 0 ||
	    (r = write_pem(dir, "ca.pem", 0644, NULL, ca)) < 0 ||
	    (r = write_pem(dir, "server.key", 0600, srvkey, NULL)) < 0 ||
	    (r = write_pem(dir, "server.pem", 0644, NULL, srv)) < 0)
		goto out;
	r = 0;
out:
	X509_NAME_free(name);
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(srvkey);
	return r;
}

int refca_ca_load(const char *dir, struct refca_ca **ret)
{
	struct refca_ca *ca;
	char path[PATH_MAX];
	FILE *f;
	int r = -EIO;

	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	if ((size_t)snprintf(path, sizeof(path), "%s/ca.pem", dir) >= sizeof(path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		goto fail;
	}
	ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		goto fail;
	}
	ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->cert || !ca->key || X509_check_private_key(ca->cert, ca->key) != 1)
		goto fail;
	ca->store = X509_STORE_new();
	if (!ca->store || !X509_STORE_add_cert(ca->store, ca->cert))
		goto fail;
	*ret = ca;
	return 0;
fail:
	refca_ca_free(ca);
	return r;
}

struct refca_ca *refca_ca_free(struct refca_ca *ca)
{
	if (!ca)
		return NULL;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	X509_STORE_free(ca->store);
	free(ca);
	return NULL;
}

X509 *refca_ca_cert(const struct refca_ca *ca)
{
	return ca->cert;
}

static int csr_check(X509_REQ *req, const char **ret_why)
{
	EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
	int mdnid = NID_undef, pknid = NID_undef;
	char group[64];

	if (!pk) {
		*ret_why = "The CSR's public key cannot be read.";
		return -EINVAL;
	}
	/* Key type first: nothing else is worth computing for a key we would refuse anyway. */
	if (EVP_PKEY_is_a(pk, "RSA")) {
		if (EVP_PKEY_get_bits(pk) < 2048 || EVP_PKEY_get_bits(pk) > 4096) {
			*ret_why = "RSA keys must have 2048 to 4096 bits.";
			return -EKEYREJECTED;
		}
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1 ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
			*ret_why = "EC keys must be on the curve P-256.";
			return -EKEYREJECTED;
		}
	} else {
		*ret_why = "Only RSA (2048 to 4096 bits) and EC P-256 keys are accepted.";
		return -EKEYREJECTED;
	}
	if (!OBJ_find_sigid_algs(X509_REQ_get_signature_nid(req), &mdnid, &pknid) ||
	    (mdnid != NID_sha256 && mdnid != NID_sha384 && mdnid != NID_sha512)) {
		*ret_why = "The CSR must be signed with SHA-256, SHA-384 or SHA-512.";
		return -EINVAL;
	}
	/* Proof of possession (RFC 7030 3.3.2 relies on it): the CSR is signed by its own key. */
	if (X509_REQ_verify(req, pk) != 1) {
		*ret_why = "The CSR's signature does not verify.";
		return -EBADMSG;
	}
	if (X509_NAME_entry_count(X509_REQ_get_subject_name(req)) <= 0) {
		*ret_why = "The CSR's subject is empty.";
		return -EINVAL;
	}
	return 0;
}

static int csr_from_der(const unsigned char *der, size_t len, X509_REQ **ret, const char **ret_why)
{
	const unsigned char *p = der;
	X509_REQ *req;
	int r;

	if (len == 0 || len > REFCA_MAX_CSR) {
		*ret_why = len ? "The CSR is too large." : "The CSR is empty.";
		return len ? -E2BIG : -EINVAL;
	}
	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (!req || p != der + len) {
		X509_REQ_free(req);
		*ret_why = "The body is not a DER PKCS#10 CSR.";
		return -EINVAL;
	}
	if ((r = csr_check(req, ret_why)) < 0) {
		X509_REQ_free(req);
		return r;
	}
	*ret = req;
	return 0;
}

int refca_ca_csr_from_base64(const char *text, size_t len, X509_REQ **ret, const char **ret_why)
{
	const char *why_dummy;
	EVP_ENCODE_CTX *ctx;
	unsigned char *der;
	int n = 0, m = 0, r;

	if (!ret_why)
		ret_why = &why_dummy;
	/* Base64 of REFCA_MAX_CSR bytes, with room for line breaks. */
	if (len > REFCA_MAX_CSR * 2) {
		*ret_why = "The CSR is too large.";
		return -E2BIG;
	}
	der = malloc(len + 4);
	ctx = EVP_ENCODE_CTX_new();
	if (!der || !ctx) {
		free(der);
		EVP_ENCODE_CTX_free(ctx);
		return -ENOMEM;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, der, &n, (const unsigned char *)text, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, der + n, &m) != 1) {
		*ret_why = "The body is not base64 (RFC 7030 wants base64 of the DER CSR).";
		r = -EINVAL;
	} else {
		r = csr_from_der(der, (size_t)n + (size_t)m, ret, ret_why);
	}
	EVP_ENCODE_CTX_free(ctx);
	free(der);
	return r;
}

int refca_ca_csr_from_pem_file(const char *path, X509_REQ **ret, const char **ret_why)
{
	struct stat stbuf;
	X509_REQ *req;
	BIO *bio;
	int r;

	bio = BIO_new_file(path, "r");
	if (!bio) {
		*ret_why = "The CSR file cannot be opened.";
		return -ENOENT;
	}
	if (stat(path, &stbuf) < 0 || stbuf.st_size > REFCA_MAX_PEM_FILE) {
		BIO_free(bio);
		*ret_why = "The CSR file is too large.";
		return -E2BIG;
	}
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!req) {
		*ret_why = "The file holds no PEM certificate request.";
		return -EINVAL;
	}
	if ((r = csr_check(req, ret_why)) < 0) {
		X509_REQ_free(req);
		return r;
	}
	*ret = req;
	return 0;
}

int refca_ca_serial_hex(const X509 *cert, char out[REFCA_SERIAL_HEX_MAX + 1])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	int r = hex ? refca_serial_normalize(hex, out) : -ENOMEM;

	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

char *refca_ca_subject_text(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *text = NULL;
	long n;

	if (!b)
		return NULL;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(b, &data);
		if (n >= 0)
			text = strndup(data, (size_t)n);
	}
	BIO_free(b);
	return text;
}

static int der_of(X509 *cert, unsigned char **ret, size_t *ret_len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);

	if (n <= 0)
		return -EIO;
	*ret = der;
	*ret_len = (size_t)n;
	return 0;
}

int refca_ca_issue(struct refca_ca *ca, struct refca_state *st, X509_REQ *req, const X509_NAME *subject,
		   long not_before, long not_after, long first_issued, const char *renewed_from, const char *via,
		   X509 **ret)
{
	EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
	struct refca_cert rec = { 0 };
	unsigned char *der = NULL;
	char *base_url = NULL, url[512];
	X509 *x = NULL;
	int r, tries = 0;

	if (!pk || not_after < not_before)
		return -EINVAL;
	if (!subject)
		subject = X509_REQ_get_subject_name(req);
	r = refca_state_get_setting(st, "base_url", &base_url);
	if (r < 0 && r != -ENOENT)
		return r;
again:
	x = X509_new();
	if (!x) {
		r = -ENOMEM;
		goto out;
	}
	if (!X509_set_version(x, X509_VERSION_3) || set_random_serial(x) < 0 ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) || !X509_set_subject_name(x, subject) ||
	    !X509_set_pubkey(x, pk) || set_validity(x, not_before, not_after) < 0 ||
	    add_ext(ca->cert, x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(ca->cert, x, NID_key_usage,
		    EVP_PKEY_is_a(pk, "RSA") ? "critical,digitalSignature,keyEncipherment"
					     : "critical,digitalSignature") < 0 ||
	    add_ext(ca->cert, x, NID_ext_key_usage, "clientAuth") < 0 ||
	    add_ext(ca->cert, x, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(ca->cert, x, NID_authority_key_identifier, "keyid:always") < 0) {
		r = -EIO;
		goto out;
	}
	if (base_url) {
		snprintf(url, sizeof(url), "URI:%s/crl/ca.crl", base_url);
		if ((r = add_ext(ca->cert, x, NID_crl_distribution_points, url)) < 0)
			goto out;
		snprintf(url, sizeof(url), "OCSP;URI:%s/ocsp", base_url);
		if ((r = add_ext(ca->cert, x, NID_info_access, url)) < 0)
			goto out;
	}
	if (!X509_sign(x, ca->key, EVP_sha256())) {
		r = -EIO;
		goto out;
	}

	rec.subject = refca_ca_subject_text(subject);
	if (!rec.subject || (r = refca_ca_serial_hex(x, rec.serial)) < 0 || (r = der_of(x, &der, &rec.der_len)) < 0) {
		r = r < 0 ? r : -ENOMEM;
		goto out;
	}
	rec.der = der;
	rec.not_before = not_before;
	rec.not_after = not_after;
	rec.first_issued = first_issued;
	snprintf(rec.via, sizeof(rec.via), "%s", via);
	snprintf(rec.renewed_from, sizeof(rec.renewed_from), "%s", renewed_from ? renewed_from : "");
	if ((r = refca_state_now(st, &rec.issued_at)) < 0)
		goto out;
	r = refca_state_cert_add(st, &rec);
	if (r == -EEXIST && ++tries < 3) {
		/* A 128-bit serial collided: draw another one. */
		X509_free(x);
		x = NULL;
		OPENSSL_free(der);
		der = NULL;
		free(rec.subject);
		rec.subject = NULL;
		goto again;
	}
	if (r < 0)
		goto out;
	*ret = x;
	x = NULL;
	r = 0;
out:
	X509_free(x);
	OPENSSL_free(der);
	free(rec.subject);
	free(base_url);
	return r;
}

int refca_ca_verify_client(struct refca_ca *ca, struct refca_state *st, X509 *cert, struct refca_cert **ret)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	struct refca_cert *rec = NULL;
	char serial[REFCA_SERIAL_HEX_MAX + 1];
	unsigned char *der = NULL;
	size_t der_len = 0;
	int r = -EACCES;

	if (!ctx)
		return -ENOMEM;
	if (!X509_STORE_CTX_init(ctx, ca->store, cert, NULL))
		goto out;
	/* Expired certificates may renew (R-R2, R-R4): time is the rules' business, not the chain's. */
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
				    X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(ctx) != 1)
		goto out;
	if ((r = refca_ca_serial_hex(cert, serial)) < 0 || (r = refca_state_cert_get(st, serial, &rec)) < 0 ||
	    (r = der_of(cert, &der, &der_len)) < 0)
		goto out;
	if (der_len != rec->der_len || memcmp(der, rec->der, der_len) != 0) {
		r = -EACCES;
		goto out;
	}
	if (rec->revoked) {
		r = -EKEYREVOKED;
		goto out;
	}
	*ret = rec;
	rec = NULL;
	r = 0;
out:
	OPENSSL_free(der);
	refca_cert_free(rec);
	X509_STORE_CTX_free(ctx);
	return r;
}

/* Base64 in 64-column lines (RFC 2045 style, as EST servers send it). */
static int base64_lines(const unsigned char *in, size_t len, char **ret, size_t *ret_len)
{
	EVP_ENCODE_CTX *ctx;
	size_t cap;
	char *out;
	int n = 0, m = 0;

	if (len > INT_MAX / 2)
		return -E2BIG;
	cap = len / 48 * 65 + len / 3 * 4 + 80;
	out = malloc(cap);
	ctx = EVP_ENCODE_CTX_new();
	if (!out || !ctx) {
		free(out);
		EVP_ENCODE_CTX_free(ctx);
		return -ENOMEM;
	}
	EVP_EncodeInit(ctx);
	if (EVP_EncodeUpdate(ctx, (unsigned char *)out, &n, in, (int)len) != 1) {
		free(out);
		EVP_ENCODE_CTX_free(ctx);
		return -EIO;
	}
	EVP_EncodeFinal(ctx, (unsigned char *)out + n, &m);
	EVP_ENCODE_CTX_free(ctx);
	out[n + m] = '\0';
	*ret = out;
	*ret_len = (size_t)n + (size_t)m;
	return 0;
}

int refca_ca_pkcs7_base64(X509 *cert, char **ret, size_t *ret_len)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	int n = -1, r;

	/* certs-only: signedData with no signers and no content (as `openssl crl2pkcs7 -nocrl` makes it). */
	if (p7 && PKCS7_set_type(p7, NID_pkcs7_signed) && PKCS7_add_certificate(p7, cert)) {
		p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
		n = i2d_PKCS7(p7, &der);
	}
	PKCS7_free(p7);
	if (n <= 0)
		return -EIO;
	r = base64_lines(der, (size_t)n, ret, ret_len);
	OPENSSL_free(der);
	return r;
}

int refca_ca_csrattrs_base64(char **ret, size_t *ret_len)
{
	/* Either signature algorithm, with SHA-256: the CSR's key decides which (API.md). */
	static const int nids[] = { NID_sha256WithRSAEncryption, NID_ecdsa_with_SHA256 };
	ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
	unsigned char *der = NULL;
	int n = -1, r;

	if (!seq)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
		ASN1_TYPE *t = ASN1_TYPE_new();
		ASN1_OBJECT *obj = OBJ_dup(OBJ_nid2obj(nids[i]));

		if (!t || !obj || !sk_ASN1_TYPE_push(seq, t)) {
			ASN1_TYPE_free(t);
			ASN1_OBJECT_free(obj);
			goto out;
		}
		ASN1_TYPE_set(t, V_ASN1_OBJECT, obj);
	}
	n = i2d_ASN1_SEQUENCE_ANY(seq, &der);
out:
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	if (n <= 0)
		return -EIO;
	r = base64_lines(der, (size_t)n, ret, ret_len);
	OPENSSL_free(der);
	return r;
}

static ASN1_INTEGER *serial_from_hex(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;

	if (BN_hex2bn(&bn, hex) > 0)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

static int crl_add(const struct refca_cert *c, void *u)
{
	X509_CRL *crl = u;
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *ai = serial_from_hex(c->serial);
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)c->revoked_at);
	int ok = rv && ai && t && X509_REVOKED_set_serialNumber(rv, ai) && X509_REVOKED_set_revocationDate(rv, t) &&
		 X509_CRL_add0_revoked(crl, rv);

	ASN1_INTEGER_free(ai);
	ASN1_TIME_free(t);
	if (!ok) {
		X509_REVOKED_free(rv);
		return -ENOMEM;
	}
	return 0;
}

int refca_ca_crl_der(struct refca_ca *ca, struct refca_state *st, unsigned char **ret, size_t *ret_len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;
	unsigned char *der = NULL;
	int64_t now;
	long number;
	int r, n;

	if (!crl)
		return -ENOMEM;
	if ((r = refca_state_now(st, &now)) < 0 || (r = refca_state_next_number(st, "crl_number", &number)) < 0)
		goto out;
	r = -EIO;
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    !(t = ASN1_TIME_set(NULL, (time_t)now)) || !X509_CRL_set1_lastUpdate(crl, t) ||
	    !ASN1_TIME_set(t, (time_t)(now + 7 * 86400)) || !X509_CRL_set1_nextUpdate(crl, t))
		goto out;
	if ((r = refca_state_cert_each(st, true, crl_add, crl)) < 0)
		goto out;
	r = -EIO;
	X509_CRL_sort(crl);
	num = ASN1_INTEGER_new();
	if (!num || !ASN1_INTEGER_set(num, number) || !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto out;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	if (!ext || !X509_CRL_add_ext(crl, ext, -1) || !X509_CRL_sign(crl, ca->key, EVP_sha256()))
		goto out;
	n = i2d_X509_CRL(crl, &der);
	if (n <= 0)
		goto out;
	*ret = der;
	*ret_len = (size_t)n;
	r = 0;
out:
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return r;
}

static int ocsp_add(struct refca_ca *ca, struct refca_state *st, OCSP_BASICRESP *bs, OCSP_CERTID *cid,
		    ASN1_TIME *thisupd, ASN1_TIME *nextupd)
{
	ASN1_OBJECT *md_obj = NULL;
	ASN1_INTEGER *serial = NULL;
	const EVP_MD *md;
	OCSP_CERTID *ours = NULL;
	struct refca_cert *rec = NULL;
	ASN1_TIME *revtime = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL, norm[REFCA_SERIAL_HEX_MAX + 1];
	int status = V_OCSP_CERTSTATUS_UNKNOWN, r = 0;

	OCSP_id_get0_info(NULL, &md_obj, NULL, &serial, cid);
	md = md_obj ? EVP_get_digestbyobj(md_obj) : NULL;
	/* Only certificates this CA issued are answered good or revoked; anything else is unknown. */
	if (md && serial && (ours = OCSP_cert_to_id(md, NULL, ca->cert)) && OCSP_id_issuer_cmp(ours, cid) == 0 &&
	    (bn = ASN1_INTEGER_to_BN(serial, NULL)) && (hex = BN_bn2hex(bn)) &&
	    refca_serial_normalize(hex, norm) == 0) {
		r = refca_state_cert_get(st, norm, &rec);
		if (r == 0)
			status = rec->revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD;
		else if (r != -ENOENT)
			goto out;
		r = 0;
	}
	if (status == V_OCSP_CERTSTATUS_REVOKED && !(revtime = ASN1_TIME_set(NULL, (time_t)rec->revoked_at))) {
		r = -ENOMEM;
		goto out;
	}
	if (!OCSP_basic_add1_status(bs, cid, status, OCSP_REVOKED_STATUS_NOSTATUS, revtime, thisupd, nextupd))
		r = -ENOMEM;
out:
	ASN1_TIME_free(revtime);
	refca_cert_free(rec);
	OPENSSL_free(hex);
	BN_free(bn);
	OCSP_CERTID_free(ours);
	return r;
}

int refca_ca_ocsp_der(struct refca_ca *ca, struct refca_state *st, const unsigned char *req, size_t req_len,
		      unsigned char **ret, size_t *ret_len)
{
	const unsigned char *p = req;
	OCSP_REQUEST *oreq = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	ASN1_TIME *thisupd = NULL, *nextupd = NULL;
	unsigned char *der = NULL;
	int64_t now;
	int r, n, count;

	if (req_len > 0 && req_len <= LONG_MAX)
		oreq = d2i_OCSP_REQUEST(NULL, &p, (long)req_len);
	count = oreq ? OCSP_request_onereq_count(oreq) : 0;
	if (!oreq || p != req + req_len || count <= 0 || count > REFCA_OCSP_MAX_IDS) {
		resp = OCSP_response_create(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, NULL);
		goto encode;
	}
	if ((r = refca_state_now(st, &now)) < 0)
		goto out;
	r = -ENOMEM;
	bs = OCSP_BASICRESP_new();
	thisupd = ASN1_TIME_set(NULL, (time_t)now);
	nextupd = ASN1_TIME_set(NULL, (time_t)(now + 86400));
	if (!bs || !thisupd || !nextupd)
		goto out;
	for (int i = 0; i < count; i++)
		if ((r = ocsp_add(ca, st, bs, OCSP_onereq_get0_id(OCSP_request_onereq_get0(oreq, i)), thisupd,
				  nextupd)) < 0)
			goto out;
	r = -EIO;
	/* The CA key signs directly (RFC 6960 4.2.2.2: the issuing CA is an authorised responder). */
	if (OCSP_copy_nonce(bs, oreq) <= 0 || !OCSP_basic_sign(bs, ca->cert, ca->key, EVP_sha256(), NULL, 0))
		goto out;
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
encode:
	r = -EIO;
	if (!resp || (n = i2d_OCSP_RESPONSE(resp, &der)) <= 0)
		goto out;
	*ret = der;
	*ret_len = (size_t)n;
	r = 0;
out:
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(oreq);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	return r;
}

int refca_ca_pem(X509 *cert, char **ret, size_t *ret_len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *text = NULL;
	long n;

	if (!b)
		return -ENOMEM;
	if (PEM_write_bio_X509(b, cert) && (n = BIO_get_mem_data(b, &data)) > 0 && (text = strndup(data, (size_t)n)))
		*ret_len = (size_t)n;
	BIO_free(b);
	if (!text)
		return -ENOMEM;
	*ret = text;
	return 0;
}
