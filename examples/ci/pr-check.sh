#!/bin/sh
# Pull-request check for an accessctl desired-state repository, for any CI system.
#
# 1. validates the head commit (accessctl validate);
# 2. shows what the pull request changes: accessctl diff from the merge base of base and
#    head to the head, as Markdown (plan actions, and who gains or loses access) and JSON;
# 3. optionally checks that the files are in canonical layout (accessctl fmt --check);
# 4. optionally plans the head against a snapshot of the server's live state
#    (accessctl plan --live-snapshot), written on the server by `accessctl state export`.
#
# Everything goes into an output directory, including the Markdown to post as a
# pull-request comment; posting it is left to the CI system. The GitHub Actions example
# (github-actions.yml beside this file) runs this script. Guide: docs/ci.md.
#
# usage: pr-check.sh --base REF [--head REF] [--repo DIR] [--out DIR]
#                    [--snapshot FILE] [--fmt off|warn|fail]
#
#   --base REF       the branch the pull request goes into (origin/main, a commit id)
#   --head REF       the pull request's commit (default HEAD)
#   --repo DIR       the git repository, bare or not, with the history of both
#                    (default .); a shallow clone needs `git fetch --unshallow` first
#   --out DIR        output directory, created if missing (default accessctl-check)
#   --snapshot FILE  a live-state snapshot: also plan the head against it
#   --fmt MODE       off (default); warn: report files not in canonical layout;
#                    fail: and exit 2 when there are any
#
# Each option falls back to an environment variable: ACCESSCTL_BASE, ACCESSCTL_HEAD,
# ACCESSCTL_REPO, ACCESSCTL_OUT, ACCESSCTL_SNAPSHOT, ACCESSCTL_FMT. ACCESSCTL names the
# accessctl executable (default: accessctl, found on PATH).
#
# Files written into the output directory:
#   validate.txt     the validation report of the head commit
#   diff.md          the diff as Markdown; parts of a long diff are separated by lines
#                    <!-- accessctl: part N of M -->
#   diff.json        the diff as JSON
#   fmt.txt          the output of accessctl fmt --check (with --fmt warn or fail)
#   plan.md          the plan against the snapshot (with --snapshot)
#   comment-N.md     the Markdown to post, N = 1, 2, ...: comment-1.md is the main
#                    comment, the others continue it; each is under 60,000 bytes
#   result           one word: ok, invalid, unformatted or error
#
# Exit codes:
#   0   the head is valid; the diff (and the plan) are written
#   1   the head is invalid (validate.txt has every problem), or the check could not
#       run (git or accessctl failed; the message is on stderr and in comment-1.md)
#   2   the head is valid but some files are not in canonical layout (--fmt fail only)
#   64  usage error
#
# A failing snapshot plan is reported in the comment and on stderr but does not change
# the exit code: the snapshot is a convenience, the diff is the check.
#
# POSIX sh (runs under dash): no bashisms, every expansion quoted.

# The Markdown printed below has `code spans` inside single quotes on purpose.
# shellcheck disable=SC2016

set -eu

# GitHub's limit for a comment is 65,536 characters; stay well below it.
LIMIT=60000

usage() {
    sed -n '/^# usage:/,/^# accessctl executable/s/^# \{0,1\}//p' "$0"
}

usage_error() {
    printf 'pr-check.sh: %s\n' "$1" >&2
    printf "Try 'pr-check.sh --help'.\n" >&2
    exit 64
}

repo=${ACCESSCTL_REPO:-.}
base=${ACCESSCTL_BASE:-}
head=${ACCESSCTL_HEAD:-HEAD}
out=${ACCESSCTL_OUT:-accessctl-check}
snapshot=${ACCESSCTL_SNAPSHOT:-}
fmt=${ACCESSCTL_FMT:-off}
accessctl=${ACCESSCTL:-accessctl}

while [ "$#" -gt 0 ]; do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --repo | --base | --head | --out | --snapshot | --fmt)
            [ "$#" -ge 2 ] || usage_error "$1 needs a value"
            option=$1
            value=$2
            shift 2
            ;;
        --repo=* | --base=* | --head=* | --out=* | --snapshot=* | --fmt=*)
            option=${1%%=*}
            value=${1#*=}
            shift
            ;;
        *)
            usage_error "unknown argument: $1"
            ;;
    esac
    case $option in
        --repo) repo=$value ;;
        --base) base=$value ;;
        --head) head=$value ;;
        --out) out=$value ;;
        --snapshot) snapshot=$value ;;
        --fmt) fmt=$value ;;
    esac
done

[ -n "$base" ] || usage_error "no base: pass --base REF (or set ACCESSCTL_BASE)"
[ -n "$head" ] || usage_error "no head: pass --head REF"
[ -n "$out" ] || usage_error "no output directory: pass --out DIR"
case $fmt in
    off | warn | fail) ;;
    *) usage_error "--fmt must be off, warn or fail, not '$fmt'" ;;
esac

mkdir -p "$out"
# Remove what an earlier run left, and nothing else.
rm -f "$out/validate.txt" "$out/diff.md" "$out/diff.json" "$out/fmt.txt" "$out/plan.md" \
    "$out/result" "$out"/comment-*.md

work=$(mktemp -d "${TMPDIR:-/tmp}/accessctl-pr-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() {
    printf '==> %s\n' "$1" >&2
}

# finish RESULT STATUS: records the result and exits with STATUS.
finish() {
    printf '%s\n' "$1" >"$out/result"
    exit "$2"
}

# error MESSAGE: the check could not run; the comment says so.
error() {
    printf 'pr-check.sh: error: %s\n' "$1" >&2
    {
        printf '**accessctl: the pull-request check could not run.**\n\n'
        printf '%s\n' "$1" | fenced
        printf '\nSee the CI job log for details.\n'
    } >"$out/comment-1.md"
    finish error 1
}

# fenced: copies stdin into a Markdown code block whose fence is longer than any run of
# backticks inside, so no input can end the block early. At most 50,000 bytes are kept.
fenced() {
    cat >"$work/fenced.in"
    fence=$(awk '
        { line = $0
          while (match(line, /`+/)) { if (RLENGTH > max) max = RLENGTH; line = substr(line, RSTART + RLENGTH) } }
        END { n = (max >= 3 ? max + 1 : 3); s = ""; for (i = 0; i < n; i++) s = s "`"; print s }' "$work/fenced.in")
    printf '%stext\n' "$fence"
    awk '
        { total += length($0) + 1 }
        total <= 50000 { print; next }
        { dropped++ }
        END { if (dropped) printf "... %d more lines: see the CI job log\n", dropped }' "$work/fenced.in"
    printf '%s\n' "$fence"
}

# split_parts FILE PREFIX: splits accessctl's Markdown at its part markers into
# PREFIX1.md, PREFIX2.md, ... (blank lines after a marker dropped); prints the count.
split_parts() {
    prefix=$2 awk '
        BEGIN { n = 1; file = ENVIRON["prefix"] n ".md"; printf "" > file; start = 1 }
        /^<!-- accessctl: part [0-9]+ of [0-9]+ -->$/ {
            close(file); n++; file = ENVIRON["prefix"] n ".md"; printf "" > file; start = 1; next }
        start && /^[ \t]*$/ { next }
        { start = 0; print > file }
        END { close(file); print n }' "$1"
}

# Comments are packed from chunks (files), in order, as long as a comment stays under
# LIMIT bytes; a chunk is never split (accessctl's parts are already small enough).
comments=0
comment_size=0
add_chunk() {
    chunk_size=$(wc -c <"$1")
    chunk_size=$((chunk_size + 0))
    if [ "$comments" -eq 0 ] || { [ "$comment_size" -gt 0 ] && [ $((comment_size + chunk_size + 1)) -gt "$LIMIT" ]; }; then
        comments=$((comments + 1))
        comment_size=0
        : >"$out/comment-$comments.md"
    fi
    if [ "$comment_size" -gt 0 ]; then
        printf '\n' >>"$out/comment-$comments.md"
        comment_size=$((comment_size + 1))
    fi
    cat "$1" >>"$out/comment-$comments.md"
    comment_size=$((comment_size + chunk_size))
}

command -v "$accessctl" >/dev/null 2>&1 || error "accessctl not found: put it on PATH or set ACCESSCTL (now '$accessctl')"
git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || error "$repo is not a git repository"

head_commit=$(git -C "$repo" rev-parse --verify --quiet "$head^{commit}") \
    || error "head '$head' is not a commit in $repo"
base_commit=$(git -C "$repo" rev-parse --verify --quiet "$base^{commit}") \
    || error "base '$base' is not a commit in $repo (fetch it first)"
if ! merge_base=$(git -C "$repo" merge-base "$base_commit" "$head_commit"); then
    if [ "$(git -C "$repo" rev-parse --is-shallow-repository)" = true ]; then
        error "no merge base of $base and $head: the clone is shallow; fetch the full history (git fetch --unshallow, or fetch-depth: 0)"
    fi
    error "no merge base of $base and $head: they share no history"
fi
short_head=$(git -C "$repo" rev-parse --short=12 "$head_commit")
short_base=$(git -C "$repo" rev-parse --short=12 "$merge_base")

# 1. Validate the head commit.
log "accessctl validate --ref $short_head"
status=0
"$accessctl" validate --repo "$repo" --ref "$head_commit" >"$out/validate.txt" 2>&1 || status=$?
cat "$out/validate.txt" >&2
case $status in
    0) ;;
    1)
        # The report ends with "invalid: 2 errors, 1 warning in 19 files in ...".
        counts=$(sed -n '$s/^invalid: \(.*\) in [0-9][0-9]* files\{0,1\} in .*$/\1/p' "$out/validate.txt")
        {
            printf '**accessctl: validation failed** for commit `%s`' "$short_head"
            [ -z "$counts" ] || printf ' (%s)' "$counts"
            printf '.\n\nFix every problem below and push again; the diff of this pull request is shown once the repository is valid.\n\n'
            fenced <"$out/validate.txt"
        } >"$out/comment-1.md"
        log "the head commit is invalid"
        finish invalid 1
        ;;
    *) error "accessctl validate exited with $status: $(sed -n '$p' "$out/validate.txt")" ;;
esac

# 2. What the pull request changes: merge base -> head.
log "accessctl diff --base $short_base --head $short_head"
status=0
"$accessctl" diff --repo "$repo" --base "$merge_base" --head "$head_commit" --format markdown >"$out/diff.md" 2>"$work/diff.err" || status=$?
cat "$work/diff.err" >&2
[ "$status" -eq 0 ] || error "accessctl diff exited with $status: $(sed -n '$p' "$work/diff.err")"
# The diff's warnings (the head's, and a base that does not validate) go into the comment too.
if [ -s "$work/diff.err" ]; then
    {
        printf '**Warnings** (they do not fail the check):\n\n'
        fenced <"$work/diff.err"
    } >"$work/warnings.md"
fi
status=0
"$accessctl" diff --repo "$repo" --base "$merge_base" --head "$head_commit" --format json >"$out/diff.json" 2>"$work/diff.err" || status=$?
[ "$status" -eq 0 ] || error "accessctl diff --format json exited with $status: $(sed -n '$p' "$work/diff.err")"

# 3. Optional: canonical layout, checked on the files of the head commit. The note goes
#    first in the comment when it fails the check, after the diff otherwise.
result=ok
exit_status=0
if [ "$fmt" != off ]; then
    log "accessctl fmt --check"
    mkdir "$work/tree"
    git -C "$repo" archive --format=tar -o "$work/head.tar" "$head_commit" || error "git archive $short_head failed"
    (cd "$work/tree" && tar -xf ../head.tar) || error "cannot unpack the head commit"
    status=0
    "$accessctl" fmt --check --repo "$work/tree" >"$work/fmt.out" 2>&1 || status=$?
    # Paths as in the repository, without the temporary directory.
    prefix="$work/tree/" awk '{ p = ENVIRON["prefix"]
        while ((i = index($0, p)) > 0) $0 = substr($0, 1, i - 1) substr($0, i + length(p))
        print }' "$work/fmt.out" >"$out/fmt.txt"
    cat "$out/fmt.txt" >&2
    case $status in
        0) ;;
        2)
            {
                printf '**Layout:** some files are not in canonical layout. Run `accessctl fmt --repo .` and commit the result'
                if [ "$fmt" = fail ]; then printf ' (this check requires it).\n\n'; else printf ' (advisory).\n\n'; fi
                fenced <"$out/fmt.txt"
            } >"$work/fmt-note.md"
            if [ "$fmt" = fail ]; then
                result=unformatted
                exit_status=2
                add_chunk "$work/fmt-note.md"
                rm "$work/fmt-note.md"
            fi
            ;;
        *)
            [ "$fmt" = fail ] && error "accessctl fmt --check exited with $status: $(sed -n '$p' "$out/fmt.txt")"
            printf '**Layout:** `accessctl fmt --check` could not run (exit %s); see the CI job log.\n' "$status" >"$work/fmt-note.md"
            ;;
    esac
fi

parts=$(split_parts "$out/diff.md" "$work/diff-part-")
part=1
while [ "$part" -le "$parts" ]; do
    add_chunk "$work/diff-part-$part.md"
    part=$((part + 1))
done
if [ -f "$work/warnings.md" ]; then
    add_chunk "$work/warnings.md"
fi
if [ -f "$work/fmt-note.md" ]; then
    add_chunk "$work/fmt-note.md"
fi

# 4. Optional: the plan against the server's live state, from a snapshot.
if [ -n "$snapshot" ]; then
    log "accessctl plan --live-snapshot $snapshot"
    status=0
    if [ ! -f "$snapshot" ]; then
        printf 'snapshot %s does not exist\n' "$snapshot" >"$work/plan.err"
        status=1
    else
        "$accessctl" plan --repo "$repo" --ref "$head_commit" --live-snapshot "$snapshot" --format markdown \
            >"$out/plan.md" 2>"$work/plan.err" || status=$?
        cat "$work/plan.err" >&2
    fi
    if [ "$status" -eq 0 ]; then
        plan_parts=$(split_parts "$out/plan.md" "$work/plan-part-")
        part=1
        while [ "$part" -le "$plan_parts" ]; do
            {
                if [ "$part" -eq 1 ]; then
                    printf '### Plan against the live state\n\n'
                    printf 'What `accessctl apply` would do if this commit were applied to the snapshot of the server'"'"'s live state (keys and files that are due anyway are included).\n\n'
                    # "note: live snapshot taken 2026-03-02T09:00:00Z (3 hours ago)", a warning when it is old.
                    taken=$(sed -n 's/^note: live snapshot taken //p' "$work/plan.err" | sed -n '1p')
                    old=$(sed -n 's/^warning: live snapshot taken \([^:]*:[^:]*:[^:)]*)\).*$/\1/p' "$work/plan.err" | sed -n '1p')
                    if [ -n "$old" ]; then
                        printf '**The snapshot is old:** taken %s; export a new one on the server for a current plan.\n\n' "$old"
                    elif [ -n "$taken" ]; then
                        printf 'Snapshot taken %s.\n\n' "$taken"
                    fi
                fi
                cat "$work/plan-part-$part.md"
            } >"$work/plan-chunk-$part.md"
            add_chunk "$work/plan-chunk-$part.md"
            part=$((part + 1))
        done
    else
        rm -f "$out/plan.md"
        printf 'pr-check.sh: warning: the plan against the live snapshot failed (exit %s)\n' "$status" >&2
        {
            printf '### Plan against the live state\n\nNot available: `accessctl plan --live-snapshot` failed (exit %s).\n\n' "$status"
            fenced <"$work/plan.err"
        } >"$work/plan-note.md"
        add_chunk "$work/plan-note.md"
    fi
fi

printf '<sub>accessctl: changes from `%s` (merge base) to `%s` (head).</sub>\n' "$short_base" "$short_head" >"$work/footer.md"
add_chunk "$work/footer.md"

log "wrote $comments comment part(s) to $out"
finish "$result" "$exit_status"
