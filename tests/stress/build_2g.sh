# SPDX-License-Identifier: Apache-2.0
# A 2 GB image builds with the same peak RSS as a small one (make stress).
BIG_MB=2048 exec bash "$(dirname "$0")/../integration/build_memory.sh"
