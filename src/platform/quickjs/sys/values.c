/* The C <-> JS conversions every part of the module uses: buffers, strings, string vectors, lists. */
#include "flatnet_sys.h"

/* Room for `more` bytes past len, growing by doubling but never past `limit` bytes in all. */
int buf_reserve(struct buf *b, size_t more, size_t limit)
{
    if (more > SIZE_MAX - b->len)
        return ENOMEM;
    size_t need = b->len + more;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (cap > limit && limit >= need)
        cap = limit;
    char *p = realloc(b->p, cap);
    if (!p)
        return ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/*
 * Appends what fd has to b until EOF (returns 0) or, on a non-blocking fd,
 * until it has nothing more for now (EAGAIN); any other errno is an error.
 * Reads at most max + 1 bytes: one byte past the bound tells it was passed
 * (EFBIG), and the buffer never grows beyond that.
 */
int read_into(int fd, struct buf *b, size_t max)
{
    for (;;) {
        size_t left = max - b->len; /* b->len <= max here */
        size_t room = left < 65536 ? left + 1 : 65536;
        if (buf_reserve(b, room, max < SIZE_MAX ? max + 1 : SIZE_MAX))
            return ENOMEM;
        ssize_t n = read(fd, b->p + b->len, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return 0;
        b->len += n;
        if (b->len > max)
            return EFBIG;
    }
}

/*
 * arr[i] = v, which it takes over; -1 (JS exception pending) when v is one or
 * the set fails. Every list the module builds goes through here or tuple():
 * no JS_EXCEPTION lands in a list as a value.
 */
int put(JSContext *ctx, JSValueConst arr, uint32_t i, JSValue v)
{
    if (JS_IsException(v))
        return -1;
    return JS_SetPropertyUint32(ctx, arr, i, v) < 0 ? -1 : 0;
}

/*
 * An array of the values, which it takes over; JS_EXCEPTION (with the
 * exception pending) when any of them is one or the array cannot be made.
 */
JSValue tuple(JSContext *ctx, int n, JSValue *v)
{
    JSValue a = JS_NewArray(ctx);
    int ok = !JS_IsException(a);
    for (int i = 0; i < n; i++) {
        if (!ok || JS_IsException(v[i])) {
            JS_FreeValue(ctx, v[i]);
            ok = 0;
        } else {
            ok = put(ctx, a, i, v[i]) == 0; /* takes v[i] either way */
        }
    }
    if (ok)
        return a;
    JS_FreeValue(ctx, a);
    return JS_EXCEPTION;
}

JSValue pair(JSContext *ctx, JSValue v, int err)
{
    return tuple(ctx, 2, (JSValue[]){v, JS_NewInt32(ctx, err)});
}

/*
 * A JS string as a C string (free it with JS_FreeCString). Returns 0, EINVAL
 * for a NUL inside it (C would silently act on the part before the NUL: Node
 * refuses such a path too), or -1 with a JS exception pending.
 */
int c_string(JSContext *ctx, JSValueConst v, const char **out)
{
    size_t len;
    const char *s = JS_ToCStringLen(ctx, &len, v);
    *out = NULL;
    if (!s)
        return -1;
    if (strlen(s) != len) {
        JS_FreeCString(ctx, s);
        return EINVAL;
    }
    *out = s;
    return 0;
}

/* The C strings of a string_vector, and the vector itself. */
void free_vector(JSContext *ctx, const char **v)
{
    if (!v)
        return;
    for (const char **p = v; *p; p++)
        JS_FreeCString(ctx, *p);
    free(v);
}

/*
 * A JS array of strings as a NULL-terminated vector in *out. Returns 0,
 * ENOMEM, EINVAL (a NUL inside a string) or -1 with a JS exception pending.
 */
int string_vector(JSContext *ctx, JSValueConst arr, const char ***out)
{
    uint32_t n;
    *out = NULL;
    JSValue lenv = JS_GetPropertyStr(ctx, arr, "length");
    int r = JS_ToUint32(ctx, &n, lenv);
    JS_FreeValue(ctx, lenv);
    if (r)
        return -1;
    const char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!v)
        return ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        JSValue s = JS_GetPropertyUint32(ctx, arr, i);
        r = JS_IsException(s) ? -1 : c_string(ctx, s, &v[i]);
        JS_FreeValue(ctx, s);
        if (r) {
            free_vector(ctx, v);
            return r;
        }
    }
    *out = v;
    return 0;
}
