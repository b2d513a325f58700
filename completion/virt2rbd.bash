# bash completion for virt2rbd                                  -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/virt2rbd (loaded on
# demand by bash-completion).
#
# Commands come from `virt2rbd --help`, options per command from
# `virt2rbd COMMAND --help` of the binary being completed, so they are always
# the binary's own. An option followed by a placeholder in the help
# (`--pool POOL`) takes a value.
#   DOMAIN      virsh -c URI list --all --name; URI from --connect on the
#               line, else $LIBVIRT_DEFAULT_URI, else virsh's own default
#   --pool, POOL/IMAGE
#               ceph osd pool ls (and rbd ls POOL for verify's image), with the
#               -c/--conf, --cluster, --id/--name and -k/--keyring on the line;
#               quietly, and given up after V2R_COMP_TIMEOUT seconds (default 3)
#   SOURCE      files and block devices
# COMPREPLY=($(compgen ...)) is how completions are written: compgen output has no spaces.
# shellcheck disable=SC2207
# tests/cli/t_completion.sh checks it (with stand-in virsh and ceph).

# _virt2rbd_help BINARY [COMMAND]: the help text (a few milliseconds).
_virt2rbd_help()
{
    "$1" ${2:+"$2"} --help 2>/dev/null </dev/null
}

# The options of a command: "NAME" for a flag, "NAME=" for one taking a value
# (the help shows a placeholder after its names: "  -c,--conf FILE   ...").
_virt2rbd_options()
{
    _virt2rbd_help "$1" "$2" | awk '
        /^Options:/ { o = 1; next }
        /^[^ ]/ { o = 0 }
        o && /^  +-/ {
            head = $0; sub(/^ +/, "", head); sub(/  .*/, "", head)
            takes = split(head, w, " ") > 1
            n = split(w[1], names, ",")
            for (i = 1; i <= n; i++) print names[i] (takes ? "=" : "")
        }'
}

_virt2rbd_commands()
{
    _virt2rbd_help "$1" | awk '/^Subcommands:/ { s = 1; next } /^[^ ]/ { s = 0 } s && /^  +[a-z]/ { print $1 }'
}

# _virt2rbd_arg OPTION...: the value given on the line to the first of these
# options (--opt VALUE or --opt=VALUE), if any.
_virt2rbd_arg()
{
    local i w o
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        for o in "$@"; do
            if [[ $w == "$o" ]]; then
                if ((i + 1 < cword)); then
                    printf '%s\n' "${words[i + 1]}"
                    return 0
                fi
            elif [[ $w == "$o="* ]]; then
                printf '%s\n' "${w#*=}"
                return 0
            fi
        done
    done
    return 1
}

_virt2rbd_timeout()
{
    timeout -k 1 "${V2R_COMP_TIMEOUT:-3}" "$@" 2>/dev/null </dev/null
}

_virt2rbd_domains()
{
    local uri
    uri=$(_virt2rbd_arg --connect) || uri=${LIBVIRT_DEFAULT_URI-}
    if [[ -n $uri ]]; then
        _virt2rbd_timeout virsh -q -c "$uri" list --all --name
    else
        _virt2rbd_timeout virsh -q list --all --name
    fi
}

# The Ceph options on the line, for ceph and rbd.
_virt2rbd_ceph_args()
{
    local v
    if v=$(_virt2rbd_arg -c --conf); then ceph_args+=(--conf "$v"); fi
    if v=$(_virt2rbd_arg --cluster); then ceph_args+=(--cluster "$v"); fi
    if v=$(_virt2rbd_arg --id -i); then ceph_args+=(--id "$v"); fi
    if v=$(_virt2rbd_arg --name -n); then ceph_args+=(--name "$v"); fi
    if v=$(_virt2rbd_arg -k --keyring); then ceph_args+=(--keyring "$v"); fi
}

_virt2rbd_pools()
{
    local -a ceph_args=()
    _virt2rbd_ceph_args
    _virt2rbd_timeout ceph "${ceph_args[@]}" --connect-timeout "${V2R_COMP_TIMEOUT:-3}" osd pool ls
}

_virt2rbd_images()
{
    local -a ceph_args=()
    _virt2rbd_ceph_args
    _virt2rbd_timeout rbd "${ceph_args[@]}" ls "$1"
}

# The disk targets of the domain on the line (for --disks).
_virt2rbd_disks()
{
    local uri dom
    dom=$1
    uri=$(_virt2rbd_arg --connect) || uri=${LIBVIRT_DEFAULT_URI-}
    _virt2rbd_timeout virsh -q ${uri:+-c "$uri"} domblklist "$dom" | awk '{ print $1 }'
}

_virt2rbd()
{
    local cur prev words cword split
    _init_completion -s -n : || return

    local bin=${words[0]}
    [[ $bin == */* ]] || bin=$(type -P "$bin") || return
    [[ -x $bin ]] || return

    # The command: the first word that is not an option.
    local cmd="" cmd_at=0 i
    for ((i = 1; i < cword; i++)); do
        if [[ ${words[i]} != -* ]]; then
            cmd=${words[i]}
            cmd_at=$i
            break
        fi
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$(_virt2rbd_commands "$bin")" -- "$cur"))
        fi
        return
    fi

    local -a opts
    mapfile -t opts < <(_virt2rbd_options "$bin" "$cmd")
    # Does option $1 take a value?
    _virt2rbd_takes() { local o; for o in "${opts[@]}"; do [[ $o == "$1=" ]] && return 0; done; return 1; }

    if [[ $prev == -* ]] && _virt2rbd_takes "$prev"; then
        case $prev in
            --pool)
                COMPREPLY=($(compgen -W "$(_virt2rbd_pools)" -- "$cur")) ;;
            --connect)
                COMPREPLY=($(compgen -W "qemu:///system qemu:///session" -- "$cur"))
                __ltrim_colon_completions "$cur" ;;
            -c | --conf | -k | --keyring | --log-file)
                _filedir ;;
            --state-dir)
                _filedir -d ;;
            --format)
                COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
            --verify)
                COMPREPLY=($(compgen -W "full none" -- "$cur")) ;;
            --cache)
                COMPREPLY=($(compgen -W "writeback none writethrough directsync unsafe default" -- "$cur")) ;;
            --mon-hosts)
                COMPREPLY=($(compgen -W "none" -- "$cur")) ;;
            --disks)
                local dom
                dom=$(_virt2rbd_positional 0)
                [[ -n $dom ]] && COMPREPLY=($(compgen -W "$(_virt2rbd_disks "$dom")" -- "${cur##*,}"))
                if [[ $cur == *,* ]]; then
                    COMPREPLY=("${COMPREPLY[@]/#/${cur%,*},}")
                fi ;;
        esac
        return
    fi
    $split && return

    if [[ $cur == -* ]]; then
        local -a names=()
        local o
        for o in "${opts[@]}"; do
            [[ $o == -? || $o == -?= ]] && continue # long names only
            names+=("${o%=}")
        done
        COMPREPLY=($(compgen -W "${names[*]}" -- "$cur"))
        return
    fi

    # A positional argument: which one?
    local n=0
    for ((i = cmd_at + 1; i < cword; i++)); do
        if [[ ${words[i]} == -* ]]; then
            [[ ${words[i]} != *=* ]] && _virt2rbd_takes "${words[i]}" && ((i++))
        else
            ((n++))
        fi
    done
    case $cmd in
        copy | verify)
            if ((n == 0)); then
                _filedir
            elif ((n == 1)); then
                if [[ $cur == */* && $cmd == verify ]]; then
                    local pool=${cur%%/*}
                    COMPREPLY=($(compgen -P "$pool/" -W "$(_virt2rbd_images "$pool")" -- "${cur#*/}"))
                else
                    COMPREPLY=($(compgen -S / -W "$(_virt2rbd_pools)" -- "$cur"))
                    compopt -o nospace 2>/dev/null # (not when called outside completion, as in tests)
                fi
            fi ;;
        plan | migrate | rollback | commit | status)
            ((n == 0)) && COMPREPLY=($(compgen -W "$(_virt2rbd_domains)" -- "$cur")) ;;
        fleet)  # fleet plan|run|status|cancel FILE
            if ((n == 0)); then
                COMPREPLY=($(compgen -W "plan run status cancel" -- "$cur"))
            elif ((n == 1)); then
                _filedir '@(yaml|yml)'
            fi ;;
    esac
}

# _virt2rbd_positional N: the Nth positional argument after the command.
_virt2rbd_positional()
{
    local i n=0 seen_cmd=0
    for ((i = 1; i < cword; i++)); do
        if [[ ${words[i]} == -* ]]; then
            [[ ${words[i]} != *=* ]] && _virt2rbd_takes "${words[i]}" && ((i++))
        elif ((!seen_cmd)); then
            seen_cmd=1
        else
            if ((n == $1)); then
                printf '%s\n' "${words[i]}"
                return 0
            fi
            ((n++))
        fi
    done
    return 1
}

complete -F _virt2rbd virt2rbd
# ex: filetype=sh
