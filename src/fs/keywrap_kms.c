/* SPDX-License-Identifier: Apache-2.0 */
/* The KMS key wrap: GenerateDataKey and Decrypt with the enclave's attestation document as Recipient. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/kms.h"
#include "fs/fs.h"
#include "fs/seal.h"
#include "util/secure.h"

/*
 * The volume key is made by KMS for this enclave: GenerateDataKey answers
 * the plaintext only as CiphertextForRecipient (sealed to the RSA key the
 * attestation document names, opened here) and the CiphertextBlob, which is
 * what the header keeps. Mounting again is Decrypt of that blob with the
 * document, which KMS grants only when the key policy admits the enclave's
 * PCRs. KMS and the recipient are borrowed: they are only used while
 * kfs_mount runs.
 */
struct kms_wrap {
	struct kfs_keywrap ops;
	struct aws_kms *kms;
	const struct aws_kms_recipient *r;
	char key_id[2048];
};

/* KMS's words stay (they name the refused condition); the errno says "not for this enclave". */
static int refused(int rc, const char *op)
{
	char why[512];

	if (rc != -EACCES && rc != -EBADMSG)
		return kiln_err_wrap(rc, "volume key");
	snprintf(why, sizeof(why), "%s", kiln_errmsg()); /* kiln_err writes where it points */
	return kiln_err(EKEYREJECTED, "volume key refused for this enclave: %s", why);
}

static int take_key(uint8_t *pt, size_t n, uint8_t *key)
{
	int rc = n == KFS_KEY_LEN ? 0 :
		 kiln_err(EBADMSG, "volume key: KMS answered %zu key bytes, not %d", n, KFS_KEY_LEN);

	if (rc == 0)
		memcpy(key, pt, KFS_KEY_LEN);
	kiln_free_secret(pt, n);
	return rc;
}

static int kms_generate(struct kfs_keywrap *w, const uint8_t *uuid, uint8_t *key, uint8_t **out,
			size_t *out_len)
{
	struct kms_wrap *k = (struct kms_wrap *)w;
	struct aws_http_client *conn = NULL;
	uint8_t *pt = NULL;
	size_t n = 0;
	char *blob = NULL;
	int rc = aws_kms_conn(k->kms, &conn);

	(void)uuid;
	if (rc == 0)
		rc = aws_kms_generate_data_key_recipient(k->kms, conn, k->key_id, k->r, &pt, &n, &blob);
	aws_http_client_free(conn);
	if (rc < 0)
		return refused(rc, "GenerateDataKey");
	rc = take_key(pt, n, key);
	if (rc == 0)
		rc = aws_b64_decode(blob, out, out_len);
	free(blob);
	if (rc < 0)
		kiln_wipe(key, KFS_KEY_LEN);
	return rc;
}

static int kms_unwrap(struct kfs_keywrap *w, const uint8_t *uuid, const uint8_t *in, size_t in_len,
		      uint8_t *key)
{
	struct kms_wrap *k = (struct kms_wrap *)w;
	struct aws_http_client *conn = NULL;
	uint8_t *pt = NULL;
	size_t n = 0;
	char *blob = NULL;
	int rc = aws_b64_encode(in, in_len, &blob);

	(void)uuid;
	if (rc == 0)
		rc = aws_kms_conn(k->kms, &conn);
	if (rc == 0)
		rc = aws_kms_decrypt_recipient(k->kms, conn, blob, k->key_id, k->r, &pt, &n);
	aws_http_client_free(conn);
	free(blob);
	if (rc < 0)
		return refused(rc, "Decrypt");
	return take_key(pt, n, key);
}

static void kms_free(struct kfs_keywrap *w)
{
	free(w);
}

int kfs_keywrap_kms(struct aws_kms *kms, const char *key_id, const struct aws_kms_recipient *r,
		    struct kfs_keywrap **out)
{
	struct kms_wrap *k;

	if (!key_id || !key_id[0] || strlen(key_id) >= sizeof(k->key_id))
		return kiln_err(EINVAL, "key: kms needs a KMS key id (storage[].kms_key_id)");
	k = calloc(1, sizeof(*k));
	if (!k)
		return kiln_err(ENOMEM, "KMS key wrap: out of memory");
	snprintf(k->ops.name, sizeof(k->ops.name), "kms");
	k->ops.generate = kms_generate;
	k->ops.unwrap = kms_unwrap;
	k->ops.free = kms_free;
	k->kms = kms;
	k->r = r;
	snprintf(k->key_id, sizeof(k->key_id), "%s", key_id);
	*out = &k->ops;
	return 0;
}
