#!/usr/bin/env bash
# A learner written outside Python, through `logitrank serve` (needs curl and jq): it spends the smallest rung
# of a task's budget on samples, fits a position-wise unigram (add-half smoothed log-frequencies) and submits
# its logits along the server's held-out sequences.  usage: docs/oracle_client.sh [URL] [TASK] [SEED]
set -euo pipefail
URL=${1:-http://127.0.0.1:8765}; TASK=${2:-ngram3-v8}; SEED=${3:-0}
get()  { curl -sS --fail-with-body "$URL$1"; }
post() { curl -sS --fail-with-body -H 'Content-Type: application/json' --data-binary "$2" "$URL$1"; }

view=$(get "/tasks/$TASK")                       # what a participant may see: V, T, access, budgets
V=$(jq .vocab_size <<<"$view"); T=$(jq .horizon <<<"$view"); KIND=$(jq -r .access <<<"$view")
BUDGET=$(jq ".${KIND}_budgets[0]" <<<"$view")
SID=$(post /sessions "{\"learner\": \"unigram-sh\", \"task\": \"$TASK\", \"seed\": $SEED,
                       \"access\": \"$KIND\", \"budget\": $BUDGET}" | jq -r .session)
if [ "$KIND" = sample ]; then N=$BUDGET           # a sample costs 1; through queries a sequence costs T (x m)
else N=$(( BUDGET / (T * $(jq '[.samples_per_query, 1] | max' <<<"$view")) )); fi
seqs=$(post "/sessions/$SID/sample" "{\"n\": $N}" | jq -c .sequences)

table=$(jq -c --argjson V "$V" --argjson T "$T" '. as $s |
  [range($T) as $t | [range($V) as $z | ([$s[] | select(.[$t] == $z)] | length) + 0.5 | log]]' <<<"$seqs")

held=$(post "/sessions/$SID/heldout" '' | jq -c .sequences)   # no more queries after this
jq -c --argjson tab "$table" '{logits: [.[] | $tab]}' <<<"$held" > "${TMPDIR:-/tmp}/logits.$$.json"
post "/sessions/$SID/submit/logits" "@${TMPDIR:-/tmp}/logits.$$.json" |
  jq '.record | {learner, task, seed, budget, used, kl, tv}'
rm -f "${TMPDIR:-/tmp}/logits.$$.json"
