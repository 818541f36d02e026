#!/usr/bin/env bash
# No drift between the CLI and its docs: every command and option that `agproxy ... --help` lists
# is in the man page and in the bash, zsh and fish completions, and they name nothing else.
# Also checks that the completions work and that the man page renders cleanly.
#   check_docs.sh AGPROXY_BINARY SOURCE_DIR
set -u
agproxy=$1
src=$2
man=$src/man/agproxy.1
bash_completion=$src/completions/agproxy.bash
zsh_completion=$src/completions/_agproxy
fish_completion=$src/completions/agproxy.fish
here=$(cd "$(dirname "$0")" && pwd)
failures=0
checks=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

# Subcommands listed by `agproxy PATH --help`.
subcommands_of() {
  # shellcheck disable=SC2086
  "$agproxy" $1 --help | awk '/^Subcommands:/ {on=1; next} on && /^  [a-z0-9]/ {print $1} on && /^$/ {on=0}'
}

# Options listed by `agproxy PATH --help`, one per line (-H, --header, ...), without --help/-h.
options_of() {
  # shellcheck disable=SC2086
  "$agproxy" $1 --help | awk '/^Options:/ {on=1; next} on && /^  -/ {print $1} on && /^$/ {on=0}' |
    tr ',' '\n' | sed 's/:.*//' | grep -v -x -e '-h' -e '--help' -e '--version'
}

# Every command path: "", "serve", "doctor", "doctor 401", "key", "key show", ...
paths=("")
queue=("")
while ((${#queue[@]})); do
  parent=${queue[0]}
  queue=("${queue[@]:1}")
  for sub in $(subcommands_of "$parent"); do
    path="${parent:+$parent }$sub"
    paths+=("$path")
    queue+=("$path")
  done
done
echo "commands: ${#paths[@]} (${paths[*]:1})"

# The man page as plain text, and the words it marks as options.
man_text=$(MANWIDTH=200 man -l "$man" 2>/dev/null | col -b)
all_options=()
for path in "${paths[@]}"; do
  mapfile -t opts < <(options_of "$path")
  all_options+=("${opts[@]}")
  mapfile -t subs < <(subcommands_of "$path")
  bash_offer=$(bash "$here/complete.bash" "$bash_completion" "agproxy ${path:+$path }-")
  bash_words=$(bash "$here/complete.bash" "$bash_completion" "agproxy ${path:+$path }")
  fish_offer=$(fish -c "source '$fish_completion'; complete -C 'agproxy ${path:+$path }-'" | cut -f1)
  fish_words=$(fish -c "source '$fish_completion'; complete -C 'agproxy ${path:+$path }'" | cut -f1)
  for opt in "${opts[@]}"; do
    grep -q -x -e "$opt" <<< "$bash_offer" && pass || fail "bash does not complete '$opt' for 'agproxy $path'"
    grep -q -x -e "$opt" <<< "$fish_offer" && pass || fail "fish does not complete '$opt' for 'agproxy $path'"
    grep -q -e "$opt\b" -- "$zsh_completion" && pass || fail "zsh completion never names '$opt' (agproxy $path)"
    grep -q -F -e "$opt" <<< "$man_text" && pass || fail "the man page never names '$opt' (agproxy $path)"
  done
  for sub in "${subs[@]}"; do
    grep -q -x -e "$sub" <<< "$bash_words" && pass || fail "bash does not complete '$sub' after 'agproxy $path'"
    grep -q -x -e "$sub" <<< "$fish_words" && pass || fail "fish does not complete '$sub' after 'agproxy $path'"
    grep -q -e "'$sub:" -- "$zsh_completion" && pass || fail "zsh completion does not offer '$sub' (agproxy $path)"
    # Either "agproxy key regenerate" or a list such as "agproxy key show | regenerate | set".
    grep -q -E -e "agproxy ${path:+$path }([a-z0-9]+ \| )*$sub\b" <<< "$man_text" && pass ||
      fail "the man page never names 'agproxy ${path:+$path }$sub'"
  done
  # Nothing offered that the command does not have.
  for offered in $bash_offer; do
    [[ $offered == --help || $offered == --version ]] && continue
    grep -q -x -e "$offered" <<< "$(printf '%s\n' "${opts[@]}")" && pass ||
      fail "bash offers '$offered' for 'agproxy $path', which has no such option"
  done
  for offered in $fish_offer; do
    [[ $offered == --help || $offered == -h || $offered == --version ]] && continue
    grep -q -x -e "$offered" <<< "$(printf '%s\n' "${opts[@]}")" && pass ||
      fail "fish offers '$offered' for 'agproxy $path', which has no such option"
  done
done

# Every option the man page and the zsh file name must exist somewhere.
known=$(printf '%s\n' "${all_options[@]}" --help --version | sort -u)
for word in $(grep -o -E -- '(^|[^a-z-])--[a-z][a-z-]*' <<< "$man_text" | sed 's/^[^-]*//' | sort -u); do
  grep -q -x -e "$word" <<< "$known" && pass || fail "the man page names '$word', which no command has"
done
for word in $(grep -o -E -- "'--[a-z][a-z-]*|[{,]--[a-z][a-z-]*" "$zsh_completion" | sed 's/^.//' | sort -u); do
  grep -q -x -e "$word" <<< "$known" && pass || fail "zsh completion names '$word', which no command has"
done

# The completions work.
expect_bash() { # LINE WORD
  bash "$here/complete.bash" "$bash_completion" "$1" | grep -q -x -e "$2" && pass ||
    fail "bash: '$1' does not complete to '$2'"
}
expect_bash "agproxy d" doctor
expect_bash "agproxy serve --auth-" --auth-mode
for mode in off strict all_except_health auto; do expect_bash "agproxy serve --auth-mode " "$mode"; done
expect_bash "agproxy serve --log-format " json
expect_bash "agproxy doctor " 401
expect_bash "agproxy key re" regenerate
[[ $(bash "$here/complete.bash" "$bash_completion" "agproxy serve --auth-mode s") == strict ]] && pass ||
  fail "bash: '--auth-mode s' should complete to exactly 'strict'"
zsh -n "$zsh_completion" && pass || fail "zsh -n rejects $zsh_completion"
fish --no-execute "$fish_completion" && pass || fail "fish --no-execute rejects $fish_completion"
fish_modes=$(fish -c "source '$fish_completion'; complete -C 'agproxy serve --auth-mode '" | cut -f1 | sort | tr '\n' ' ')
[[ $fish_modes == "all_except_health auto off strict " ]] && pass ||
  fail "fish: 'agproxy serve --auth-mode ' offers '$fish_modes'"

# The man page renders cleanly.
lint=$(mandoc -Tlint -W warning "$man" 2>&1) && pass || fail "mandoc -Tlint: $lint"
groff_warnings=$(groff -t -man -ww -z "$man" 2>&1)
[[ -z $groff_warnings ]] && pass || fail "groff -man -ww: $groff_warnings"

echo "docs: $checks passed, $failures failed"
((failures == 0))
