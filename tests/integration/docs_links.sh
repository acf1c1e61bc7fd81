#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The docs stand alone: every relative link (and #anchor) in README.md and docs/*.md resolves
# inside the repository, no doc points to a design file or directory outside it, and every `kiln SUB`/`kilnd`
# command shown in their code blocks has a working --help. A broken copy must be caught.
source "$(dirname "$0")/../lib/common.sh"

# Markdown files of a tree: README.md and docs/*.md.
docs_of() {
	local root=$1 f
	echo "$root/README.md"
	for f in "$root"/docs/*.md; do [ -f "$f" ] && echo "$f"; done
}

# Lines outside fenced code blocks, inline code spans removed: "LINENO<TAB>text".
prose() {
	awk '/^[ \t]*```/ { fence = !fence; next }
	     !fence { gsub(/`[^`]*`/, ""); print NR "\t" $0 }' "$1"
}

# Lines inside fenced code blocks.
code() {
	awk '/^[ \t]*```/ { fence = !fence; next } fence' "$1"
}

# The GitHub anchors of a file's headings, one per line (duplicates get -1, -2, ...).
anchors() {
	awk '/^[ \t]*```/ { fence = !fence; next }
	     !fence && /^#+ / {
		h = $0; sub(/^#+ +/, "", h); sub(/ +#+ *$/, "", h)
		s = tolower(h); gsub(/[^a-z0-9 _-]/, "", s); gsub(/ /, "-", s)
		if (seen[s]++) s = s "-" (seen[s] - 1)
		print s
	     }' "$1"
}

# One "FILE:LINE: problem" per broken link; the link targets of every file.
check_links() {
	local root=$1 f n text target path anchor dest base
	while read -r f; do
		while IFS=$'\t' read -r n text; do
			while [[ $text =~ \]\(([^\)]*)\) ]]; do
				target=${BASH_REMATCH[1]%% *}
				text=${text#*"${BASH_REMATCH[0]}"}
				case $target in
				http://* | https://* | mailto:*) continue ;;
				esac
				path=${target%%#*}
				anchor=
				[[ $target == *"#"* ]] && anchor=${target#*#}
				if [ -z "$path" ]; then
					dest=$f
				else
					dest=$(realpath -m -- "$(dirname "$f")/$path")
				fi
				base=$(realpath -m -- "$root")
				if [[ $dest != "$base" && $dest != "$base"/* ]]; then
					echo "${f#"$root"/}:$n: link '$target' leaves the repository"
				elif [ ! -e "$dest" ]; then
					echo "${f#"$root"/}:$n: link '$target': no such file"
				elif [ -n "$anchor" ] && ! anchors "$dest" | grep -qxF -- "$anchor"; then
					echo "${f#"$root"/}:$n: link '$target': no heading with anchor #$anchor"
				fi
			done
		done < <(prose "$f")
	done < <(docs_of "$root")
}

check_mentions() {
	local root=$1 f
	while read -r f; do
		{ grep -nE 'DESIGN\.md|\.\./shared' "$f" || true; } |
			sed "s|^|${f#"$root"/}:|; s|\$| (points outside the repository)|"
	done < <(docs_of "$root")
}

# Every `kiln SUB` / `kilnd` in code blocks: SUB --help must exit 0.
check_commands() {
	local root=$1 bin=$2 f cmd sub
	while read -r f; do
		code "$f" | { grep -oE '(^|[^A-Za-z0-9_./-])kilnd?( +[^ ]+)?' || true; } |
			sed -E 's/^[^k]*//' | sort -u | while read -r cmd sub; do
			# the word after kiln: "ps" of "ps/logs)," in a comment, none for "--help"
			if [[ $sub =~ ^([a-z][a-z-]*) ]]; then sub=${BASH_REMATCH[1]}; else sub=; fi
			if [ "$cmd" = kilnd ]; then
				"$bin/kilnd" --help >/dev/null 2>&1 || echo "${f#"$root"/}: 'kilnd --help' fails"
			elif ! "$bin/kiln" ${sub:+"$sub"} --help >/dev/null 2>&1; then
				echo "${f#"$root"/}: 'kiln${sub:+ $sub} --help' fails (command shown: kiln $sub)"
			fi
		done
	done < <(docs_of "$root")
}

check_all() {
	check_links "$1"
	check_mentions "$1"
	check_commands "$1" "$KILN_ROOT/build"
}

# The checker must catch breakage: a copy with one fault of each kind.
mkdir -p "$T/bad/docs"
cp "$KILN_ROOT"/README.md "$T/bad/"
cp "$KILN_ROOT"/docs/*.md "$T/bad/docs/"
cat >>"$T/bad/README.md" <<'EOF'

See [the gone page](docs/gone.md), [a bad anchor](#no-such-heading),
[outside](../elsewhere/x.md) and DESIGN.md.

```sh
kiln frobnicate --fast
```
EOF
bad=$(check_all "$T/bad")
assert_contains "$bad" "README.md:" "faults are located"
assert_contains "$bad" "link 'docs/gone.md': no such file" "a missing file is caught"
assert_contains "$bad" "link '#no-such-heading': no heading" "a bad anchor is caught"
assert_contains "$bad" "link '../elsewhere/x.md' leaves the repository" "a link outside is caught"
assert_contains "$bad" "(points outside the repository)" "a DESIGN.md mention is caught"
assert_contains "$bad" "'kiln frobnicate --help' fails" "an unknown command is caught"

# The real docs: no problems at all.
problems=$(check_all "$KILN_ROOT")
[ -z "$problems" ] || fail "docs problems:
$problems"
echo "docs: $(docs_of "$KILN_ROOT" | wc -l) files, links, mentions and commands ok"
