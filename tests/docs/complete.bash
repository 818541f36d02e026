#!/usr/bin/env bash
# Print, one per line, what the bash completion offers for a command line.
#   complete.bash COMPLETION_FILE 'agproxy serve --auth-'
# A trailing space in the line means "complete a new word".
set -u
source "$1"
line=$2
read -r -a COMP_WORDS <<< "$line"
if [[ $line == *" " ]]; then
  COMP_WORDS+=("")
fi
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$line
COMP_POINT=${#line}
_agproxy agproxy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
