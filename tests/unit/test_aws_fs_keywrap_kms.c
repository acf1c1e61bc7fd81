/* SPDX-License-Identifier: Apache-2.0 */
/* The KMS volume key wrap against the fake KMS: GenerateDataKey at creation, Decrypt at mount, refusals. */
#include <fcntl.h>
#include <sys/stat.h>

#include "fake_kms.h"
#include "fs/fs.h"
#include "fs/store.h"
#include "util/secure.h"

static struct aws_creds_src creds;
static char vol[] = "/tmp/kiln-test-kwkms-XXXXXX";

/* Mount vol's directory store with the KMS wrap. */
static int mount_kms(struct aws_kms *k, const struct aws_kms_recipient *r, struct kfs **fs)
{
	struct kfs_store *st = NULL;
	struct kfs_keywrap *kw = NULL;
	int rc = kfs_store_dir_open(vol, &(struct kfs_dir_caps){ 0 }, &st);

	if (rc == 0)
		rc = kfs_keywrap_kms(k, "alias/volumes", r, &kw);
	if (rc < 0)
		return rc;
	return kfs_mount(st, kw, KFS_MOUNT_CREATE, NULL, NULL, fs);
}

/* Whether the volume's object id, as the parent stores it, holds needle. */
static bool object_has(const char *id, const void *needle, size_t n)
{
	struct kfs_store *st;
	uint8_t *buf = NULL;
	size_t len = 0;
	bool found = false;

	if (kfs_store_dir_open(vol, NULL, &st) < 0)
		return false;
	if (st->get(st, id, &buf, &len) == 0)
		for (size_t i = 0; i + n <= len && !found; i++)
			found = !memcmp(buf + i, needle, n);
	free(buf);
	st->close(st);
	return found;
}

TEST(test_generate_then_decrypt)
{
	struct aws_kms_opts o = { "us-east-1", endpoint, ca_good, 10000 };
	struct aws_kms *k = NULL;
	struct aws_kms_recipient r;
	struct kfs *fs = NULL;
	struct kfs_attr a;
	uint8_t key[32], *sealed = NULL;
	size_t sn = 0;
	char *b = NULL, body[8192], buf[8];

	CHECK(aws_kms_new(&o, &creds, &k) == 0);
	CHECK(aws_kms_recipient_key(&r) == 0);
	r.doc = r.spki; /* the fake's "attestation document" is the SPKI */
	r.doc_len = r.spki_len;

	/* Creation: GenerateDataKey; the header keeps the CiphertextBlob, never the key. */
	CHECK(mount_kms(k, &r, &fs) == 0);
	CHECK(!strcmp(srv.last_target, "TrentService.GenerateDataKey"));
	CHECK(kfs_mknod(fs, KFS_ROOT_INO, "f", S_IFREG | 0600, 0, 0, &a) == 0);
	CHECK(kfs_write(fs, a.ino, 0, "kmswrap", 7) == 7);
	CHECK(kfs_unmount(fs) == 0);
	memset(key, 0x33, sizeof(key)); /* the fake's data key */
	CHECK(object_has("hdr", "KILNFAKE3333", 12));
	CHECK(!object_has("hdr", key, sizeof(key)));

	/* Mount: Decrypt with the Recipient; KMS's answer is sealed to our key. */
	CHECK(aws_cms_seal(r.key, key, sizeof(key), &sealed, &sn) == 0);
	CHECK(aws_b64_encode(sealed, sn, &b) == 0);
	snprintf(body, sizeof(body), "{\"KeyId\":\"k\",\"Plaintext\":null,\"CiphertextForRecipient\":\"%s\"}", b);
	script((struct step[]){ { 200, body } }, 1);
	fs = NULL;
	CHECK(mount_kms(k, &r, &fs) == 0);
	CHECK(!strcmp(srv.last_target, "TrentService.Decrypt"));
	CHECK(fs && kfs_lookup(fs, KFS_ROOT_INO, "f", &a) == 0);
	CHECK(fs && kfs_read(fs, a.ino, 0, buf, 7) == 7 && !memcmp(buf, "kmswrap", 7));
	if (fs)
		CHECK(kfs_unmount(fs) == 0);

	/* Another image: KMS refuses; the mount fails with KMS's words and EKEYREJECTED. */
	script((struct step[]){ { 400, "{\"__type\":\"AccessDeniedException\",\"message\":"
				       "\"denied (kms:RecipientAttestation:PCR0 mismatch)\"}" } }, 1);
	fs = NULL;
	CHECK_ERR(mount_kms(k, &r, &fs), "volume key refused for this enclave: KMS Decrypt: "
					 "AccessDeniedException: denied (kms:RecipientAttestation:PCR0 mismatch)");
	CHECK(fs == NULL);

	/* A key of the wrong size from KMS is refused, not truncated or padded. */
	free(sealed);
	free(b);
	CHECK(aws_cms_seal(r.key, key, 16, &sealed, &sn) == 0);
	CHECK(aws_b64_encode(sealed, sn, &b) == 0);
	snprintf(body, sizeof(body), "{\"KeyId\":\"k\",\"Plaintext\":null,\"CiphertextForRecipient\":\"%s\"}", b);
	script((struct step[]){ { 200, body } }, 1);
	CHECK_ERR(mount_kms(k, &r, &fs), "KMS answered 16 key bytes, not 32");
	free(sealed);
	free(b);
	r.doc = NULL;
	aws_kms_recipient_free(&r);
	aws_kms_free(k);
}

TEST(test_needs_key_id)
{
	struct kfs_keywrap *kw = NULL;

	CHECK_ERR(kfs_keywrap_kms(NULL, "", NULL, &kw), "key: kms needs a KMS key id");
	CHECK(kw == NULL);
}

int main(void)
{
	char cmd[128];

	CHECK(aws_creds_src_static(&creds, AKID, SECRET, NULL) == 0);
	CHECK(mkdtemp(vol) != NULL);
	start_server();
	RUN(test_generate_then_decrypt);
	RUN(test_needs_key_id);
	unlink(ca_good);
	unlink(ca_other);
	rmdir(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", vol);
	CHECK(system(cmd) == 0);
	return t_done();
}
