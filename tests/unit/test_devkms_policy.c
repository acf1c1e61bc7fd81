/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for dev-kms key policies: checking, wildcards, Deny wins, PCR conditions. */
#include <jansson.h>
#include <malloc.h>
#include <string.h>

#include "devkms/devkms.h"
#include "t.h"

#define ARN "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-4333-8444-555555555555"
static const char pcr0[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static const char policy[] =
	"{\"Version\":\"2012-10-17\",\"Statement\":["
	"{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},"
	"\"Action\":[\"kms:Describe*\",\"kms:Encrypt\"],\"Resource\":\"*\"},"
	"{\"Sid\":\"enclave\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"*\"]},\"Action\":\"kms:Decrypt\","
	"\"Resource\":\"" ARN "\",\"Condition\":{\"StringEqualsIgnoreCase\":{"
	"\"kms:RecipientAttestation:PCR0\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
	"\"kms:RecipientAttestation:PCR8\":[\"00\",\"11\"]}}},"
	"{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"KMS:generate*\"}]}";

static struct kiln_devkms_ctx ctx(const char *action, bool doc)
{
	struct kiln_devkms_ctx c = { .action = action, .key_arn = ARN, .has_document = doc };
	if (doc) {
		c.pcr_hex[0] = pcr0;
		c.pcr_hex[8] = "11";
	}
	return c;
}

TEST(default_allows_all)
{
	struct kiln_devkms_ctx c = ctx("kms:Decrypt", false);
	CHECK(kiln_devkms_policy_eval(NULL, &c) == 0);
}

TEST(actions_and_wildcards)
{
	struct kiln_devkms_ctx c = ctx("kms:DescribeKey", false);
	CHECK(kiln_devkms_policy_eval(policy, &c) == 0);
	c = ctx("kms:Encrypt", false);
	CHECK(kiln_devkms_policy_eval(policy, &c) == 0);
	c = ctx("kms:PutKeyPolicy", false);
	CHECK_ERR(kiln_devkms_policy_eval(policy, &c), "no resource-based policy allows the kms:PutKeyPolicy");
	/* Deny wins, matched case-insensitively on the action. */
	c = ctx("kms:GenerateDataKey", true);
	CHECK_ERR(kiln_devkms_policy_eval(policy, &c), "explicit deny");
}

TEST(pcr_conditions)
{
	struct kiln_devkms_ctx c = ctx("kms:Decrypt", true);
	CHECK(kiln_devkms_policy_eval(policy, &c) == 0);
	c = ctx("kms:Decrypt", false);
	CHECK_ERR(kiln_devkms_policy_eval(policy, &c), "kms:RecipientAttestation:PCR0 missing");
	c = ctx("kms:Decrypt", true);
	c.pcr_hex[0] = "bb";
	CHECK_ERR(kiln_devkms_policy_eval(policy, &c), "kms:RecipientAttestation:PCR0 mismatch");
	c = ctx("kms:Decrypt", true);
	c.pcr_hex[8] = "22";
	CHECK_ERR(kiln_devkms_policy_eval(policy, &c), "kms:RecipientAttestation:PCR8 mismatch");
	c = ctx("kms:Decrypt", true);
	c.key_arn = "arn:aws:kms:us-east-1:111122223333:key/other";
	CHECK_ERR(kiln_devkms_policy_eval(policy, &c), "not authorized");
}

TEST(image_sha384_is_pcr0)
{
	const char p[] = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\","
			 "\"Condition\":{\"StringEqualsIgnoreCase\":{\"kms:RecipientAttestation:ImageSha384\":\"AA\"}}}}";
	struct kiln_devkms_ctx c = ctx("kms:Decrypt", true);
	c.pcr_hex[0] = "aa";
	CHECK(kiln_devkms_policy_eval(p, &c) == 0);
	c.pcr_hex[0] = "ab";
	CHECK_ERR(kiln_devkms_policy_eval(p, &c), "kms:RecipientAttestation:ImageSha384 mismatch");
}

TEST(other_principal_not_matched)
{
	const char p[] = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::999999999999:root\"},\"Action\":\"kms:*\"}]}";
	struct kiln_devkms_ctx c = ctx("kms:Decrypt", false);
	CHECK_ERR(kiln_devkms_policy_eval(p, &c), "not authorized");
}

TEST(check_refuses)
{
	CHECK(kiln_devkms_policy_check(policy) == 0);
	CHECK_ERR(kiln_devkms_policy_check("{"), "not a JSON object");
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":[]}"), "Statement list");
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"NotAction\":\"x\"}]}"), "NotAction");
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":[{\"Effect\":\"Maybe\",\"Principal\":\"*\",\"Action\":\"x\"}]}"), "Effect");
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"x\",\"Condition\":{\"NumericEquals\":{\"a\":\"1\"}}}]}"), "NumericEquals");
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\"}]}"), "needs Effect");
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":[1]}]}"), "Action");
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":{},\"Other\":1}"), "Other");
}

/* As in dev-kms: freed JSON memory is wiped, so a use after free shows in messages. */
static void wipe_free(void *p)
{
	if (p)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* Regression: the message of an unknown top-level field was built after the
 * policy (which owns the field's name) was freed. */
TEST(unknown_field_named_after_free)
{
	CHECK_ERR(kiln_devkms_policy_check("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"x\"}],\"StatemeWt\":1}"),
		  "policy field StatemeWt is not supported");
}

int main(void)
{
	json_set_alloc_funcs(malloc, wipe_free);
	RUN(unknown_field_named_after_free);
	RUN(default_allows_all);
	RUN(actions_and_wildcards);
	RUN(pcr_conditions);
	RUN(image_sha384_is_pcr0);
	RUN(other_principal_not_matched);
	RUN(check_refuses);
	return t_done();
}
