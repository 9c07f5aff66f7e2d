#!/usr/bin/env bash
# The three-step upload of desk-files-api.txt done by hand with curl, for one file:
# 1. POST /desk/api/v2/files/ref.json  -> url, params, file.id
# 2. POST the file to url as multipart/form-data: every param, then the file last
# 3. PATCH /desk/api/v2/files/{id}.json {"file":{"state":"active"}}
#
# Usage: DESK_URL=... DESK_API_KEY=... bench/curl.sh FILE [MIMETYPE]
# Needs curl and jq. Prints the activated file's JSON.
set -euo pipefail
file=${1:?usage: curl.sh FILE [MIMETYPE]}
mime=${2:-application/octet-stream}
: "${DESK_URL:?set DESK_URL}" "${DESK_API_KEY:?set DESK_API_KEY}"
name=$(basename "$file")

ref=$(curl -sSf -X POST "$DESK_URL/desk/api/v2/files/ref.json" \
	-H "Authorization: Bearer $DESK_API_KEY" -H 'Content-Type: application/json' \
	-d "$(jq -n --arg f "$name" --arg m "$mime" \
		'{type: "attachment", filename: $f, mimeType: $m, disposition: "attachment"}')")
url=$(jq -r .url <<<"$ref")
id=$(jq -r .file.id <<<"$ref")

# Every param as a form field, in Desk's order, then the file last (S3 ignores fields
# after the file). --form-string keeps curl from reading "@" or "<" in a value as a file.
fields=()
while IFS= read -r kv; do
	fields+=(--form-string "$kv")
done < <(jq -r '.params | to_entries[] | "\(.key)=\(.value)"' <<<"$ref")
curl -sSf -o /dev/null -X POST "$url" "${fields[@]}" -F "file=@$file;type=$mime"

curl -sSf -X PATCH "$DESK_URL/desk/api/v2/files/$id.json" \
	-H "Authorization: Bearer $DESK_API_KEY" -H 'Content-Type: application/json' \
	-d '{"file":{"state":"active"}}'
echo
