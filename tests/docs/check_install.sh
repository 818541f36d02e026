#!/usr/bin/env bash
# `cmake --install` puts every file where its tools look, and the installed page and binary work.
#   check_install.sh BUILD_DIR
set -u
build=$1
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
failures=0
checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

DESTDIR=$stage cmake --install "$build" --prefix /usr/local >/dev/null || fail "cmake --install failed"
root=$stage/usr/local
for file in bin/agproxy share/man/man1/agproxy.1 share/bash-completion/completions/agproxy \
            share/zsh/site-functions/_agproxy share/fish/vendor_completions.d/agproxy.fish; do
  [[ -f $root/$file ]] && pass || fail "not installed: $file"
done
[[ -x $root/bin/agproxy ]] && pass || fail "bin/agproxy is not executable"
"$root/bin/agproxy" --version | grep -q '^agproxy ' && pass || fail "the installed binary does not run"
page=$(MANWIDTH=80 man -l "$root/share/man/man1/agproxy.1" 2>&1) && pass || fail "man -l failed: $page"
grep -q 'agproxy doctor 401' <<< "$page" && pass || fail "man -l output lacks the doctor"
echo "install: $checks passed, $failures failed"
((failures == 0))
