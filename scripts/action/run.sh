#!/usr/bin/env bash
# Runs one desksync command for the action (action.yml). Inputs arrive in the
# environment, never pasted into this script:
#   DESKSYNC_COMMAND      plan, apply, "state list", … (split on spaces: command words only)
#   DESKSYNC_ARGS         further arguments, one per line, each passed as is
#                         (so "--target" and "docs/user guides" on two lines stay two)
#   DESKSYNC_OUTPUT_FILE  also write standard output to this file
# Writes exitcode=N and changes=true|false to $GITHUB_OUTPUT. With --detailed-exitcode,
# exit 2 means "there are changes", an answer rather than a failure: the step succeeds.
# ${args[@]+…} because macOS runners' bash 3.2 calls an empty array unset under -u.
set -uo pipefail
out=${GITHUB_OUTPUT:-/dev/null}

read -r -a command <<<"${DESKSYNC_COMMAND:-}"
args=()
detailed=false
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%$'\r'}
  [ -n "$line" ] || continue
  args+=("$line")
  [ "$line" = --detailed-exitcode ] && detailed=true
done <<<"${DESKSYNC_ARGS:-}"

if [ -n "${DESKSYNC_OUTPUT_FILE:-}" ]; then
  desksync "${command[@]}" ${args[@]+"${args[@]}"} | tee "$DESKSYNC_OUTPUT_FILE"
else
  desksync "${command[@]}" ${args[@]+"${args[@]}"}
fi
code=$?

changes=false
if [ "$detailed" = true ] && [ "$code" -eq 2 ]; then
  changes=true
fi
echo "exitcode=$code" >>"$out"
echo "changes=$changes" >>"$out"
if [ "$changes" = true ]; then
  exit 0
fi
exit "$code"
