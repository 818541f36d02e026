# bash completion for agproxy                                   -*- shell-script -*-

_agproxy() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    # The command path typed so far (words that are not options nor option values).
    local path="" i word
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        case $word in
            --config|--port|--host|--auth-mode|--api-key|--workers|--drain-timeout|--log-level|--log-format|\
            --url|--key|-H|--header|--curl|--since|--probe-model|--client|--timeout|--model-map|--model)
                ((i++)) ;;
            -*) ;;
            *) path="${path:+$path }$word" ;;
        esac
    done

    case $prev in
        --auth-mode) COMPREPLY=($(compgen -W "off strict all_except_health auto" -- "$cur")); return ;;
        --log-level) COMPREPLY=($(compgen -W "debug info warn error" -- "$cur")); return ;;
        --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
        --config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --client) COMPREPLY=($(compgen -W "claude-code codex gemini-cli" -- "$cur")); return ;;
        --since) COMPREPLY=($(compgen -W "30s 10m 1h 1d" -- "$cur")); return ;;
        --port|--host|--api-key|--workers|--drain-timeout|--url|--key|-H|--header|--curl|--probe-model|--timeout|--model-map|--model)
            return ;;
    esac

    local candidates
    case $path in
        "") candidates="serve doctor key config client version --help --version" ;;
        serve) candidates="--config --port --host --allow-lan --auth-mode --api-key --workers --drain-timeout --log-level --log-format --help" ;;
        doctor) candidates="401 429 --help" ;;
        "doctor 401") candidates="--config --url --key -H --header --curl --since --probe-model --client --timeout --json -v --verbose --no-color --help" ;;
        "doctor 429") candidates="--config --url --key --model --probe-model --since --timeout --json -v --verbose --no-color --help" ;;
        key) candidates="show regenerate set --help" ;;
        "key show") candidates="--config --json --reveal --help" ;;
        "key regenerate") candidates="--config --json --help" ;;
        "key set"*) candidates="--config --json --help" ;;
        config) candidates="path show validate init --help" ;;
        "config path") candidates="--config --json --help" ;;
        "config show") candidates="--config --help" ;;
        "config validate") candidates="--config --json --help" ;;
        "config init") candidates="--config --json --force --help" ;;
        client) candidates="setup show undo --help" ;;
        "client setup") candidates="claude-code codex gemini-cli --dry-run --model-map --config --help" ;;
        "client setup "*) candidates="--dry-run --model-map --config --help" ;;
        "client show") candidates="claude-code codex gemini-cli --config --json --help" ;;
        "client show "*) candidates="--config --json --help" ;;
        "client undo") candidates="claude-code codex gemini-cli --help" ;;
        "client undo "*) candidates="--help" ;;
        version) candidates="--json --help" ;;
        *) return ;;
    esac
    COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -F _agproxy agproxy
