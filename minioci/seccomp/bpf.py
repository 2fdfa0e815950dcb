"""Classic BPF programs as the kernel takes them for seccomp: a sanity check
done before a blob from the cache or an annotation is handed to the child.
(The kernel verifies a program's jumps itself when it is loaded; this catches
what would load but cannot be what libseccomp made.)"""
import sys

INSN_SIZE = 8           # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k
MAX_INSNS = 4096        # BPF_MAXINSNS
BPF_CLASS_RET = 0x06
LD_W_ABS = 0x20         # BPF_LD | BPF_W | BPF_ABS
ARCH_OFFSET = 4         # offsetof(struct seccomp_data, arch)


def instruction(bpf, i):
    """(code, jt, jf, k) of instruction i."""
    o = i * INSN_SIZE
    return (int.from_bytes(bpf[o:o + 2], sys.byteorder), bpf[o + 2], bpf[o + 3],
            int.from_bytes(bpf[o + 4:o + 8], sys.byteorder))


def problem(bpf, from_libseccomp=False):
    """Why `bpf` is not a plausible seccomp program, or None.  libseccomp's
    programs all begin by loading the architecture word."""
    if not bpf or len(bpf) % INSN_SIZE:
        return f"{len(bpf)} bytes is not a whole number of {INSN_SIZE}-byte instructions"
    n = len(bpf) // INSN_SIZE
    if n > MAX_INSNS:
        return f"{n} instructions is more than the kernel's {MAX_INSNS}"
    if instruction(bpf, n - 1)[0] & 0x07 != BPF_CLASS_RET:
        return "the last instruction is not a return"
    if from_libseccomp:
        code, _, _, k = instruction(bpf, 0)
        if (code, k) != (LD_W_ABS, ARCH_OFFSET):
            return "the first instruction does not load the architecture"
    return None
