/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes resource quantities ("2", "500m", "512Mi", "1.5Gi") in thousandths, exactly. */
#include <stdio.h>
#include <string.h>

#include "webhook/webhook.h"

static const struct {
	const char *suffix;
	uint64_t mul; /* thousandths per unit of the suffix */
} suffixes[] = {
	{ "Ki", 1024ull * 1000 }, { "Mi", 1048576ull * 1000 }, { "Gi", 1073741824ull * 1000 },
	{ "Ti", 1099511627776ull * 1000 }, { "k", 1000ull * 1000 }, { "M", 1000000ull * 1000 },
	{ "G", 1000000000ull * 1000 }, { "T", 1000000000000ull * 1000 }, { "m", 1 }, { "", 1000 },
};

/* digits[.digits] into an integer and a fraction of at most 9 digits (in 1e-9). */
static int number(const char **s, uint64_t *whole, uint64_t *nano)
{
	const char *p = *s;
	int nd = 0, nf = 0;

	*whole = 0;
	*nano = 0;
	for (; *p >= '0' && *p <= '9'; p++, nd++) {
		if (*whole > (UINT64_MAX - 9) / 10)
			return -1;
		*whole = *whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nf++) {
			if (nf < 9)
				*nano = *nano * 10 + (uint64_t)(*p - '0');
			else if (*p != '0')
				return -1; /* beyond nano: more than any resource needs */
		}
	}
	for (int i = nf; i < 9; i++)
		*nano *= 10;
	*s = p;
	return nd + nf ? 0 : -1;
}

static int scaled(uint64_t whole, uint64_t nano, uint64_t mul, uint64_t *out)
{
	/* fractions below a thousandth are dropped (Kubernetes rounds them up) */
	unsigned __int128 v = (unsigned __int128)whole * mul + (unsigned __int128)nano * mul / 1000000000u;

	if (v > UINT64_MAX)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int kw_quantity_milli(const char *s, uint64_t *milli)
{
	const char *p = s;
	uint64_t whole, nano;

	if (!s || strlen(s) > 64 || number(&p, &whole, &nano) < 0)
		goto bad;
	if (*p == 'e' || *p == 'E') { /* decimal exponent, small and positive only */
		int e = p[1] >= '0' && p[1] <= '9' && !p[2] ? p[1] - '0' : -1;

		if (e < 0)
			goto bad;
		while (e--) {
			if (whole > UINT64_MAX / 10)
				goto bad;
			whole = whole * 10 + nano / 100000000;
			nano = nano % 100000000 * 10;
		}
		return scaled(whole, nano, 1000, milli) < 0 ? kiln_err(EINVAL, "quantity \"%s\" is out of range", s) : 0;
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (!strcmp(p, suffixes[i].suffix)) {
			if (scaled(whole, nano, suffixes[i].mul, milli) < 0)
				return kiln_err(EINVAL, "quantity \"%s\" is out of range or too precise", s);
			return 0;
		}
bad:
	return kiln_err(EINVAL, "\"%.64s\" is not a Kubernetes quantity (e.g. 2, 500m, 512Mi, 2Gi)",
			s ? s : "");
}
