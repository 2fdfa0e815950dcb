/* Decoding the plan's byte encoding (the format is in minioci_shim.h; the
 * encoder is minioci/shim.py).  Every length is checked against the buffer:
 * a malformed plan is an error, never a read past its end. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

#define NULL_STRING 0xffffffffU

struct reader {
    const char *p, *end;
};

static int take(struct reader *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return -1;
    memcpy(out, r->p, n);
    r->p += n;
    return 0;
}

/* A string: its bytes stay in the buffer, which holds its NUL too. */
static int string(struct reader *r, const char **out)
{
    uint32_t len;
    if (take(r, &len, sizeof len) < 0)
        return -1;
    if (len == NULL_STRING) {
        *out = NULL;
        return 0;
    }
    if ((size_t)(r->end - r->p) < (size_t)len + 1 || r->p[len] != '\0' || memchr(r->p, '\0', len))
        return -1;
    *out = r->p;
    r->p += (size_t)len + 1;
    return 0;
}

static int vector(struct reader *r, char ***out)
{
    uint32_t count;
    if (take(r, &count, sizeof count) < 0)
        return -1;
    if (count == NULL_STRING) {
        *out = NULL;
        return 0;
    }
    /* Each string takes at least 5 bytes: a bound before allocating. */
    if (count > (size_t)(r->end - r->p) / 5)
        return -1;
    char **v = calloc((size_t)count + 1, sizeof *v);
    if (!v)
        return -1;
    for (uint32_t i = 0; i < count; i++)
        if (string(r, (const char **)&v[i]) < 0 || !v[i])
            return -1;
    *out = v;
    return 0;
}

static int blob(struct reader *r, struct mo_step *s)
{
    uint32_t len;
    if (take(r, &len, sizeof len) < 0 || (size_t)(r->end - r->p) < len)
        return -1;
    /* Copied: the users (BPF instructions, gid_t arrays) want alignment. */
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, r->p, len);
    r->p += len;
    s->blob = copy;
    s->blob_len = len;
    return 0;
}

static int field(struct reader *r, struct mo_step *s)
{
    uint8_t tag;
    int32_t i;
    uint64_t u;
    if (take(r, &tag, 1) < 0)
        return -1;
    switch (tag) {
    case MO_F_I1: case MO_F_I2:
        if (take(r, &i, sizeof i) < 0)
            return -1;
        *(tag == MO_F_I1 ? &s->i1 : &s->i2) = i;
        return 0;
    case MO_F_U1: case MO_F_U2: case MO_F_U3: case MO_F_U4: {
        unsigned long long *dst[] = { &s->u1, &s->u2, &s->u3, &s->u4 };
        if (take(r, &u, sizeof u) < 0)
            return -1;
        *dst[tag - MO_F_U1] = u;
        return 0;
    }
    case MO_F_S1: case MO_F_S2: case MO_F_S3: case MO_F_S4: {
        const char **dst[] = { &s->s1, &s->s2, &s->s3, &s->s4 };
        return string(r, dst[tag - MO_F_S1]);
    }
    case MO_F_V1: return vector(r, &s->v1);
    case MO_F_V2: return vector(r, &s->v2);
    case MO_F_BLOB: return blob(r, s);
    default: return -1;
    }
}

int mo_plan_decode(const char *buf, unsigned long len, int nsteps, struct mo_step **steps)
{
    struct reader r = { buf, buf + len };
    char magic[4];
    uint32_t count;
    if (take(&r, magic, sizeof magic) < 0 || memcmp(magic, "MOP1", 4) != 0 ||
        take(&r, &count, sizeof count) < 0 || count != (uint32_t)nsteps || nsteps < 0)
        return -EBADMSG;
    struct mo_step *out = calloc((size_t)nsteps + 1, sizeof *out);
    if (!out)
        return -ENOMEM;
    for (int n = 0; n < nsteps; n++) {
        uint16_t op, nfields;
        if (take(&r, &op, sizeof op) < 0 || take(&r, &nfields, sizeof nfields) < 0)
            return -EBADMSG;
        out[n].op = op;
        for (int f = 0; f < nfields; f++)
            if (field(&r, &out[n]) < 0)
                return -EBADMSG;
    }
    if (r.p != r.end)
        return -EBADMSG;
    *steps = out;
    return 0;
}
