#!/usr/bin/env bash
# Installs desksync for the action (action.yml). Every input arrives in the environment,
# never pasted into this script:
#   DESKSYNC_VERSION       latest, a release tag (v1.3.0), or a commit/branch for go install
#   DESKSYNC_INSTALL       release (default) or go: build with "go install" even for a tag
#   DESKSYNC_RELEASES_URL  where releases live; default https://github.com/desksync/desksync/releases
#   DESKSYNC_INSTALL_DIR   the folder to put the binary in (the action caches it)
#   RUNNER_OS, RUNNER_ARCH as GitHub sets them (Linux|macOS|Windows, X64|ARM64)
# A release archive is used only if its SHA-256 matches the release's SHA256SUMS.
# Writes "version=…" and "method=release|go|cached" to $GITHUB_OUTPUT and the folder
# to $GITHUB_PATH.
set -euo pipefail

version=${DESKSYNC_VERSION:-latest}
method=${DESKSYNC_INSTALL:-release}
releases=${DESKSYNC_RELEASES_URL:-https://github.com/desksync/desksync/releases}
out=${GITHUB_OUTPUT:-/dev/null}

fail() { echo "::error title=desksync install::$1" >&2; exit 1; }

case "$method" in
  release | go) ;;
  *) fail "install must be release or go, not \"$method\"" ;;
esac

# A release tag looks like v1.3.0 (or v1.3.0-rc.1); anything else is a commit or a
# branch, which only go install can build.
is_tag() { [[ $1 =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; }

if [ "$method" = release ] && [ "$version" = latest ]; then
  # GitHub answers /releases/latest with a redirect to /releases/tag/<tag>.
  effective=$(curl -fsSL --retry 3 -o /dev/null -w '%{url_effective}' "$releases/latest") ||
    fail "cannot find the latest desksync release at $releases/latest"
  version=${effective##*/}
  is_tag "$version" || fail "the latest release at $releases is \"$version\", not a release tag"
fi
if [ "$method" = release ] && ! is_tag "$version"; then
  method=go # a commit or a branch
fi

dir=${DESKSYNC_INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/desksync/$version}
mkdir -p "$dir"
exe=desksync
[ "${RUNNER_OS:-}" = Windows ] && exe=desksync.exe

if [ "$method" = go ]; then
  command -v go >/dev/null || fail "building desksync $version needs Go (actions/setup-go) on the runner"
  GOBIN=$(cd "$dir" && pwd) go install "github.com/desksync/desksync@$version"
elif [ -x "$dir/$exe" ] && "$dir/$exe" version --format json | grep -q "\"version\":\"$version\""; then
  method=cached
else
  case "${RUNNER_OS:-}" in
    Linux) os=linux ext=tar.gz ;;
    macOS) os=darwin ext=tar.gz ;;
    Windows) os=windows ext=zip ;;
    *) fail "no desksync release for the runner OS \"${RUNNER_OS:-}\"; set install: go" ;;
  esac
  case "${RUNNER_ARCH:-}" in
    X64) arch=amd64 ;;
    ARM64) arch=arm64 ;;
    *) fail "no desksync release for the runner architecture \"${RUNNER_ARCH:-}\"; set install: go" ;;
  esac
  archive="desksync_${version#v}_${os}_${arch}.${ext}"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  base="$releases/download/$version"
  curl -fsSL --retry 3 -o "$tmp/SHA256SUMS" "$base/SHA256SUMS" || fail "cannot download $base/SHA256SUMS"
  curl -fsSL --retry 3 -o "$tmp/$archive" "$base/$archive" || fail "cannot download $base/$archive"
  want=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
  [ -n "$want" ] || fail "SHA256SUMS of $version does not list $archive"
  if command -v sha256sum >/dev/null; then
    got=$(sha256sum "$tmp/$archive" | awk '{print $1}')
  else
    got=$(shasum -a 256 "$tmp/$archive" | awk '{print $1}')
  fi
  [ "$got" = "$want" ] || fail "$archive has SHA-256 $got, but SHA256SUMS says $want: not installed"
  mkdir -p "$tmp/x"
  if [ "$ext" = zip ]; then
    if command -v unzip >/dev/null; then
      unzip -q "$tmp/$archive" -d "$tmp/x"
    else
      A="$tmp/$archive" D="$tmp/x" powershell -NoProfile -Command 'Expand-Archive -LiteralPath $env:A -DestinationPath $env:D'
    fi
  else
    tar -xzf "$tmp/$archive" -C "$tmp/x"
  fi
  [ -f "$tmp/x/$exe" ] || fail "$archive holds no $exe"
  mv -f "$tmp/x/$exe" "$dir/$exe"
  chmod +x "$dir/$exe"
fi

echo "version=$version" >>"$out"
echo "method=$method" >>"$out"
echo "dir=$dir" >>"$out"
[ -n "${GITHUB_PATH:-}" ] && echo "$dir" >>"$GITHUB_PATH"
echo "desksync $version installed ($method) in $dir"
