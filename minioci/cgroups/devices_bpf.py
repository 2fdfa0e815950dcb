"""The device filter of cgroup v2: an eBPF program of type
BPF_PROG_TYPE_CGROUP_DEVICE, built here from devices.Rules and loaded and
attached by the shim (bpf(2) is all the C does).

The program follows runc's devicefilter (itself from crun's ebpf.c).  The
kernel calls it with a struct bpf_cgroup_dev_ctx { u32 access_type; u32
major; u32 minor; } in R1, access_type being (access << 16) | type; it
returns 1 to allow, 0 to deny.  The prologue loads type into R2, access into
R3, major into R4 and minor into R5; then one block per exception jumps to
the next block unless the device matches, and else returns the exception's
verdict; the last block returns the default.  An allow exception matches
when every requested access is in it; a deny exception when any is (the v1
controller's match_exception and match_exception_partial).
"""
from ..errors import MiniociError, strerror

# include/uapi/linux/bpf.h
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
BPF_F_ALLOW_MULTI = 2
LICENSE = b"Apache"

# Opcodes (class | op | source).
_LDX_W = 0x61            # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54          # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74          # BPF_ALU | BPF_RSH | BPF_K
_MOV32_K = 0xb4          # BPF_ALU | BPF_MOV | BPF_K
_MOV32_X = 0xbc          # BPF_ALU | BPF_MOV | BPF_X
_JNE_K = 0x55            # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5d            # BPF_JMP | BPF_JNE | BPF_X
_JEQ_K = 0x15            # BPF_JMP | BPF_JEQ | BPF_K
_EXIT = 0x95             # BPF_JMP | BPF_EXIT
_NEXT = "next"           # jump target: the next block


def insn(code, dst=0, src=0, off=0, imm=0):
    """One 8-byte instruction: code, dst and src registers, offset, immediate."""
    return (bytes((code, (src << 4) | dst)) + off.to_bytes(2, "little", signed=True)
            + imm.to_bytes(4, "little", signed=True))


def program(todo):
    """The filter for devices.Rules `todo`, as bytes of instructions."""
    out = [insn(_LDX_W, 2, 1, 0), insn(_AND32_K, 2, imm=0xFFFF),     # R2 = type
           insn(_LDX_W, 3, 1, 0), insn(_RSH32_K, 3, imm=16),          # R3 = access
           insn(_LDX_W, 4, 1, 4),                                     # R4 = major
           insn(_LDX_W, 5, 1, 8)]                                     # R5 = minor
    verdict = 0 if todo.default_allow else 1
    for (dtype, major, minor), access in todo.ordered():
        if major > 0x7fffffff or minor > 0x7fffffff:
            continue          # no device has such numbers (major 12 bits, minor 20)
        block = [(_JNE_K, 2, 0, _NEXT, DEV_BLOCK if dtype == "b" else DEV_CHAR)]
        acc = (ACC_READ if "r" in access else 0) | (ACC_WRITE if "w" in access else 0) | \
              (ACC_MKNOD if "m" in access else 0)
        if acc != ACC_READ | ACC_WRITE | ACC_MKNOD:
            block += [(_MOV32_X, 1, 3, 0, 0), (_AND32_K, 1, 0, 0, acc)]
            if todo.default_allow:
                block.append((_JEQ_K, 1, 0, _NEXT, 0))        # deny: no requested access overlaps
            else:
                block.append((_JNE_X, 1, 3, _NEXT, 0))        # allow: some requested access missing
        # A wildcard (devices.WILDCARD, the only negative number a rule
        # holds) matches any number: no test.
        if major >= 0:
            block.append((_JNE_K, 4, 0, _NEXT, major))
        if minor >= 0:
            block.append((_JNE_K, 5, 0, _NEXT, minor))
        block += [(_MOV32_K, 0, 0, 0, verdict), (_EXIT, 0, 0, 0, 0)]
        for i, (code, dst, src, off, imm) in enumerate(block):
            out.append(insn(code, dst, src, len(block) - i - 1 if off == _NEXT else off, imm))
    out += [insn(_MOV32_K, 0, imm=1 if todo.default_allow else 0), insn(_EXIT)]
    return b"".join(out)


def attach(directory, prog):
    """Load `prog` and attach it to the cgroup v2 directory as its device
    filter.  The cgroup keeps the program; our fds are closed."""
    import os
    from .._shim import ffi, lib
    n = len(prog) // 8
    fd = lib.mo_bpf_load_device_filter(prog, n, LICENSE, ffi.NULL, 0)
    if fd < 0:
        log = ffi.new("char[]", 65536)       # load again for the verifier's reasons
        lib.mo_bpf_load_device_filter(prog, n, LICENSE, log, 65536)
        why = ffi.string(log).decode(errors="replace").strip().splitlines()
        raise MiniociError(f"load the device filter (eBPF, {n} instructions): {strerror(-fd)}"
                           + (f": {why[-1]}" if why else ""))
    try:
        cg = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            rc = lib.mo_bpf_attach_device_filter(cg, fd, BPF_F_ALLOW_MULTI)
        finally:
            os.close(cg)
        if rc < 0:
            raise MiniociError(f"attach the device filter to {directory}: {strerror(-rc)}")
    finally:
        os.close(fd)
