# fish completion for agproxy

function __agproxy_path
    # The command words typed so far, options and their values left out.
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path
    set -l skip 0
    for token in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $token
            case --config --port --host --auth-mode --api-key --workers --drain-timeout --log-level --log-format --url --key -H --header --curl --since --probe-model --client --timeout --model-map --model
                set skip 1
            case '-*'
            case '*'
                set -a path $token
        end
    end
    echo (string join ' ' -- $path)
end

function __agproxy_at
    test (__agproxy_path) = "$argv"
end

# The command path is "$argv", or "$argv" followed by a positional argument (an agent).
function __agproxy_under
    set -l path (__agproxy_path)
    test "$path" = "$argv"; or string match -q -- "$argv *" "$path"
end

complete -c agproxy -f
complete -c agproxy -n '__agproxy_at ""' -a serve -d 'Run the API gateway'
complete -c agproxy -n '__agproxy_at ""' -a doctor -d 'Find the cause of an error (topics: 401, 429)'
complete -c agproxy -n '__agproxy_at ""' -a key -d 'Show, regenerate or set the proxy key'
complete -c agproxy -n '__agproxy_at ""' -a config -d 'Locate, show, validate or create the config file'
complete -c agproxy -n '__agproxy_at ""' -a client -d 'Wire coding agents to the proxy, and show their wiring'
complete -c agproxy -n '__agproxy_at ""' -a version -d 'Print the version'
complete -c agproxy -n '__agproxy_at ""' -l version -d 'Print the version'
complete -c agproxy -l help -s h -d 'Show help'

# serve
complete -c agproxy -n '__agproxy_at serve' -l config -r -F -d 'Config file'
complete -c agproxy -n '__agproxy_at serve' -l port -x -d 'Listen port'
complete -c agproxy -n '__agproxy_at serve' -l host -x -d 'Bind address'
complete -c agproxy -n '__agproxy_at serve' -l allow-lan -d 'Listen on all interfaces'
complete -c agproxy -n '__agproxy_at serve' -l auth-mode -x -a 'off strict all_except_health auto' -d 'Auth mode'
complete -c agproxy -n '__agproxy_at serve' -l api-key -x -d 'Proxy key'
complete -c agproxy -n '__agproxy_at serve' -l workers -x -d 'Event-loop threads'
complete -c agproxy -n '__agproxy_at serve' -l drain-timeout -x -d 'Seconds in-flight requests may finish after SIGTERM'
complete -c agproxy -n '__agproxy_at serve' -l log-level -x -a 'debug info warn error' -d 'Lowest level logged'
complete -c agproxy -n '__agproxy_at serve' -l log-format -x -a 'text json' -d 'Log line format'

# doctor 401
complete -c agproxy -n '__agproxy_at doctor' -a 401 -d 'Walk the 401 checks and name the cause'
complete -c agproxy -n '__agproxy_at doctor 401' -l config -r -F -d 'Config file'
complete -c agproxy -n '__agproxy_at doctor 401' -l url -x -d 'The proxy to check'
complete -c agproxy -n '__agproxy_at doctor 401' -l key -x -d 'A key to test'
complete -c agproxy -n '__agproxy_at doctor 401' -s H -l header -x -d 'A header the failing client sends'
complete -c agproxy -n '__agproxy_at doctor 401' -l curl -x -d 'The failing curl command'
complete -c agproxy -n '__agproxy_at doctor 401' -l since -x -d 'Judge the clients refused in the last DURATION'
complete -c agproxy -n '__agproxy_at doctor 401' -l probe-model -x -d 'Send one request for MODEL'
complete -c agproxy -n '__agproxy_at doctor 401' -l client -x -a 'claude-code codex gemini-cli' -d 'Judge only this coding agent'
complete -c agproxy -n '__agproxy_at doctor 401' -l timeout -x -d 'Seconds per probe'
complete -c agproxy -n '__agproxy_at doctor 401' -l json -d 'Print one JSON object'
complete -c agproxy -n '__agproxy_at doctor 401' -s v -l verbose -d 'Show details and requests'
complete -c agproxy -n '__agproxy_at doctor 401' -l no-color -d 'No colours'

# doctor 429
complete -c agproxy -n '__agproxy_at doctor' -a 429 -d 'Walk the 429 checks and name the cause'
complete -c agproxy -n '__agproxy_at doctor 429' -l config -r -F -d 'Config file'
complete -c agproxy -n '__agproxy_at doctor 429' -l url -x -d 'The proxy to check'
complete -c agproxy -n '__agproxy_at doctor 429' -l key -x -d 'A key to test'
complete -c agproxy -n '__agproxy_at doctor 429' -l model -x -d 'The model the failing client asks for'
complete -c agproxy -n '__agproxy_at doctor 429' -l probe-model -x -d 'Send one request for MODEL'
complete -c agproxy -n '__agproxy_at doctor 429' -l since -x -a '30s 10m 1h 1d' -d 'Read only the events of the last DURATION'
complete -c agproxy -n '__agproxy_at doctor 429' -l timeout -x -d 'Seconds per probe'
complete -c agproxy -n '__agproxy_at doctor 429' -l json -d 'Print one JSON object'
complete -c agproxy -n '__agproxy_at doctor 429' -s v -l verbose -d 'Show details and requests'
complete -c agproxy -n '__agproxy_at doctor 429' -l no-color -d 'No colours'

# key
complete -c agproxy -n '__agproxy_at key' -a show -d 'Print the proxy key'
complete -c agproxy -n '__agproxy_at key' -a regenerate -d 'Replace the key with a new one'
complete -c agproxy -n '__agproxy_at key' -a set -d 'Set the key'
complete -c agproxy -n '__agproxy_at key show' -l reveal -d 'Print the whole key'
for action in show regenerate set
    complete -c agproxy -n "__agproxy_at key $action" -l config -r -F -d 'Config file'
    complete -c agproxy -n "__agproxy_at key $action" -l json -d 'Print JSON'
end

# config
complete -c agproxy -n '__agproxy_at config' -a path -d 'Print the config path'
complete -c agproxy -n '__agproxy_at config' -a show -d 'Print the config, secrets masked'
complete -c agproxy -n '__agproxy_at config' -a validate -d 'Check the config'
complete -c agproxy -n '__agproxy_at config' -a init -d 'Create the config'
for action in path show validate init
    complete -c agproxy -n "__agproxy_at config $action" -l config -r -F -d 'Config file'
end
for action in path validate init
    complete -c agproxy -n "__agproxy_at config $action" -l json -d 'Print JSON'
end
complete -c agproxy -n '__agproxy_at config init' -l force -d 'Replace an existing file'

# client
complete -c agproxy -n '__agproxy_at client' -a setup -d "Write an agent's settings to use the proxy"
complete -c agproxy -n '__agproxy_at client' -a show -d "Print each agent's wiring"
complete -c agproxy -n '__agproxy_at client' -a undo -d "Restore an agent's settings from the backup"
for action in setup show undo
    complete -c agproxy -n "__agproxy_at client $action" -a 'claude-code codex gemini-cli' -d Agent
end
complete -c agproxy -n '__agproxy_under client setup' -l dry-run -d 'Print the diff only'
complete -c agproxy -n '__agproxy_under client setup' -l model-map -x -d 'main=MODEL or fast=MODEL'
for action in setup show
    complete -c agproxy -n "__agproxy_under client $action" -l config -r -F -d 'Config file'
end
complete -c agproxy -n '__agproxy_under client show' -l json -d 'Print JSON'

# version
complete -c agproxy -n '__agproxy_at version' -l json -d 'Print JSON'
