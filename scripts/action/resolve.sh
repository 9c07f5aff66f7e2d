#!/usr/bin/env bash
# Resolves the action's version input to a release tag before the cache step, so the
# cache key names a release rather than "latest". Input from the environment:
#   DESKSYNC_VERSION       latest or a release tag
#   DESKSYNC_RELEASES_URL  default https://github.com/desksync/desksync/releases
# Writes version=<tag> to $GITHUB_OUTPUT.
set -euo pipefail
version=${DESKSYNC_VERSION:-latest}
releases=${DESKSYNC_RELEASES_URL:-https://github.com/desksync/desksync/releases}
if [ "$version" = latest ]; then
  # GitHub answers /releases/latest with a redirect to /releases/tag/<tag>.
  effective=$(curl -fsSL --retry 3 -o /dev/null -w '%{url_effective}' "$releases/latest") || {
    echo "::error title=desksync install::cannot find the latest desksync release at $releases/latest" >&2
    exit 1
  }
  version=${effective##*/}
fi
if ! [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "::error title=desksync install::\"$version\" is not a desksync release tag such as v1.3.0" >&2
  exit 1
fi
echo "version=$version" >>"${GITHUB_OUTPUT:-/dev/null}"
echo "desksync $version"
