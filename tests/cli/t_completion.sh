#!/usr/bin/env bash
# The bash completion (completion/virt2rbd.bash) against the built binary,
# with stand-ins for virsh, ceph and rbd on PATH (they log their arguments):
# commands, options per command, option values, domain names from the
# --connect on the line / $LIBVIRT_DEFAULT_URI, pools with the Ceph options
# on the line, a cluster that does not answer (given up quietly), files.
#
#   V2R_BIN=build/virt2rbd tests/cli/t_completion.sh
# Needs bash-completion (/usr/share/bash-completion/bash_completion), no lab.
set -uo pipefail
: "${V2R_BIN:?V2R_BIN must point at the virt2rbd binary}"
src=${V2R_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bc=/usr/share/bash-completion/bash_completion
[ -f "$bc" ] || { echo "FAIL: t_completion: $bc missing (apt-get install bash-completion)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/work/state-a" "$tmp/work/state-b"
: >"$tmp/work/disk1.raw"
: >"$tmp/work/disk2.raw"
ln -s "$(cd "$(dirname "$V2R_BIN")" && pwd)/$(basename "$V2R_BIN")" "$tmp/bin/virt2rbd"
cat >"$tmp/bin/virsh" <<'EOF'
#!/bin/bash
echo "virsh $*" >>"$STUB_LOG"
uri=default
while [ $# -gt 0 ]; do
    case $1 in -c) uri=$2; shift 2 ;; -q) shift ;; *) break ;; esac
done
case "$1" in
list) case $uri in
          qemu:///line) printf 'line-vm1\nline-vm2\n' ;;
          qemu:///env) printf 'env-vm\n' ;;
          default) printf 'vm-one\nvm-two\n' ;;
      esac ;;
domblklist) printf ' vda   /dev/loop1\n vdb   /var/tmp/d.raw\n' ;;
esac
EOF
cat >"$tmp/bin/ceph" <<'EOF'
#!/bin/bash
echo "ceph $*" >>"$STUB_LOG"
[ -n "${STUB_SLOW:-}" ] && sleep 20
printf 'libvirt\nlocal-pool\n'
EOF
cat >"$tmp/bin/rbd" <<'EOF'
#!/bin/bash
echo "rbd $*" >>"$STUB_LOG"
printf 'vm1-vda\nvm1-vdb\n'
EOF
chmod +x "$tmp/bin/"*
export STUB_LOG=$tmp/log PATH=$tmp/bin:$PATH
unset LIBVIRT_DEFAULT_URI CEPH_ARGS
cd "$tmp/work" || exit 1

# shellcheck disable=SC1090
source "$bc"
# shellcheck disable=SC1091
source "$src/completion/virt2rbd.bash"

fails=0
# comp LINE: the completions of LINE (the cursor at its end), one a line.
comp() {
    local line=$1
    COMP_LINE=$line
    COMP_POINT=${#line}
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _virt2rbd virt2rbd "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort
}
# expect LINE WORD...: each WORD is among the completions of LINE.
expect() {
    local line=$1 got w
    shift
    got=$(comp "$line")
    for w in "$@"; do
        if ! grep -qxF -- "$w" <<<"$got"; then
            echo "FAIL: t_completion: '$line' does not offer '$w'; it offers: $(echo $got)" >&2
            fails=$((fails + 1))
        fi
    done
}
# expect_not LINE WORD...: none of the WORDs is offered.
expect_not() {
    local line=$1 got w
    shift
    got=$(comp "$line")
    for w in "$@"; do
        if grep -qxF -- "$w" <<<"$got"; then
            echo "FAIL: t_completion: '$line' offers '$w'" >&2
            fails=$((fails + 1))
        fi
    done
}
logged() { # PATTERN: a stand-in was called with arguments matching it
    if ! grep -qE -- "$1" "$STUB_LOG" 2>/dev/null; then
        echo "FAIL: t_completion: no call matching '$1'; calls: $(cat "$STUB_LOG" 2>/dev/null)" >&2
        fails=$((fails + 1))
    fi
    : >"$STUB_LOG"
}

# Commands, and options per command (from the binary's own help).
expect "virt2rbd " copy verify plan migrate rollback commit status
expect "virt2rbd mi" migrate
expect "virt2rbd -" --help --version
expect "virt2rbd migrate --" --pool --connect --shutdown --live --in-flight --journal-interval --conf --keyring --format
expect "virt2rbd plan --" --pool --live
expect_not "virt2rbd plan --" --in-flight --journal-interval
expect "virt2rbd copy --in" --in-flight --in-flight-bytes
expect_not "virt2rbd copy --" --pool --shutdown
expect "virt2rbd verify --th" --threads
expect "virt2rbd rollback --" --copy-back --discard-changes --remove-images --live
expect "virt2rbd status --" --state-dir --connect

# Option values.
expect "virt2rbd migrate vm1 --cache w" writeback writethrough
expect "virt2rbd migrate vm1 --format " text json
expect "virt2rbd copy --verify " full none
expect "virt2rbd status --state-dir st" state-a state-b
expect "virt2rbd copy disk1.raw libvirt/x --conf di" disk1.raw

# Domains: virsh's default, $LIBVIRT_DEFAULT_URI, the --connect on the line.
: >"$STUB_LOG"
expect "virt2rbd migrate " vm-one vm-two
logged '^virsh -q list --all --name$'
LIBVIRT_DEFAULT_URI=qemu:///env expect "virt2rbd rollback " env-vm
logged '^virsh -q -c qemu:///env list --all --name$'
LIBVIRT_DEFAULT_URI=qemu:///env expect "virt2rbd plan --connect qemu:///line line" line-vm1 line-vm2
logged '^virsh -q -c qemu:///line list --all --name$'
expect "virt2rbd status --state-dir /tmp --connect=qemu:///line " line-vm1
expect_not "virt2rbd migrate vm1 " vm-one
expect "virt2rbd migrate vm1 --pool libvirt --disks " vda vdb
expect "virt2rbd migrate vm1 --disks vda," vda,vdb

# Pools (with the Ceph options on the line), images for verify.
: >"$STUB_LOG"
expect "virt2rbd migrate vm1 --pool " libvirt local-pool
logged '^ceph --connect-timeout [0-9]+ osd pool ls$'
expect "virt2rbd plan vm1 -c /etc/ceph/other.conf --id ops -k /k --pool lo" local-pool
logged '^ceph --conf /etc/ceph/other.conf --id ops --keyring /k --connect-timeout [0-9]+ osd pool ls$'
expect "virt2rbd copy disk1.raw li" libvirt/
expect "virt2rbd verify disk1.raw libvirt/vm" libvirt/vm1-vda libvirt/vm1-vdb
logged '^rbd ls libvirt$'

# Sources are files.
expect "virt2rbd copy di" disk1.raw disk2.raw
expect "virt2rbd verify --threads 2 disk" disk1.raw disk2.raw

# A cluster that does not answer: nothing offered, and not for long.
start=$(date +%s)
STUB_SLOW=1 V2R_COMP_TIMEOUT=1 expect_not "virt2rbd migrate vm1 --pool " libvirt
took=$(($(date +%s) - start))
if [ $took -gt 4 ]; then
    echo "FAIL: t_completion: pools from an unanswering cluster took ${took} s" >&2
    fails=$((fails + 1))
fi

[ $fails -eq 0 ] || exit 1
echo "PASS: t_completion"
