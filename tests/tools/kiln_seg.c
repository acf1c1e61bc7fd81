/* SPDX-License-Identifier: Apache-2.0 */
/* Test tool: list the live objects of a segment-store volume directory, for tamper tests. */
#include "../unit/seg_util.h"

/* Prints "ID SEGMENT DATA_OFFSET DATA_LENGTH RECORD_OFFSET RECORD_SIZE" per live object. */
int main(int argc, char **argv)
{
	static struct t_rec v[1 << 16];
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: kiln_seg VOLUME_DIR\n");
		return 2;
	}
	n = t_seg_live(argv[1], v, 1 << 16);
	for (size_t i = 0; i < n; i++)
		printf("%s %s %llu %u %llu %llu\n", v[i].id, v[i].seg,
		       (unsigned long long)v[i].data_off, v[i].len, (unsigned long long)v[i].off,
		       (unsigned long long)v[i].size);
	return 0;
}
