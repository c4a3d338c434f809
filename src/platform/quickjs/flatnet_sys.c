/*
 * flatnet_sys: the system calls the CNI binaries need that QuickJS's own
 * std/os modules lack (link, flock, setns, statfs, posix_spawn with captured
 * output, execv), plus whole-file read/write with errno, so the TypeScript
 * shims can report ENOENT/EEXIST/ENOSPC the way Node's fs does.
 *
 * Every function returns errno values instead of throwing: the shims turn them
 * into Node-style errors with a `code`, which the shared code already handles.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "quickjs.h"

#define countof(x) (sizeof(x) / sizeof((x)[0]))

extern char **environ;

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/*
 * Appends what fd has to b until EOF (returns 0) or, on a non-blocking fd,
 * until it has nothing more for now (EAGAIN); any other errno is an error.
 */
static int read_into(int fd, struct buf *b, size_t max)
{
    for (;;) {
        if (buf_reserve(b, 65536))
            return ENOMEM;
        ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
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

static JSValue pair(JSContext *ctx, JSValue v, int err)
{
    JSValue a = JS_NewArray(ctx);
    JS_SetPropertyUint32(ctx, a, 0, v);
    JS_SetPropertyUint32(ctx, a, 1, JS_NewInt32(ctx, err));
    return a;
}

/* Converts a JS array of strings into a NULL-terminated char* vector. */
static char **string_vector(JSContext *ctx, JSValueConst arr)
{
    uint32_t n;
    JSValue lenv = JS_GetPropertyStr(ctx, arr, "length");
    if (JS_ToUint32(ctx, &n, lenv)) {
        JS_FreeValue(ctx, lenv);
        return NULL;
    }
    JS_FreeValue(ctx, lenv);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        JSValue s = JS_GetPropertyUint32(ctx, arr, i);
        const char *c = JS_ToCString(ctx, s);
        JS_FreeValue(ctx, s);
        v[i] = strdup(c ? c : "");
        JS_FreeCString(ctx, c);
    }
    return v;
}

static void free_vector(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* readFile(path | fd, maxBytes) -> [string | null, errno] */
static JSValue js_read_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int64_t max = 64 << 20;
    if (argc > 1 && !JS_IsUndefined(argv[1]))
        JS_ToInt64(ctx, &max, argv[1]);
    int fd, own = 0;
    if (JS_IsNumber(argv[0])) {
        JS_ToInt32(ctx, &fd, argv[0]);
    } else {
        const char *path = JS_ToCString(ctx, argv[0]);
        if (!path)
            return JS_EXCEPTION;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        JS_FreeCString(ctx, path);
        if (fd < 0)
            return pair(ctx, JS_NULL, errno);
        own = 1;
    }
    struct buf b = {0};
    int err = read_into(fd, &b, (size_t)max);
    if (own)
        close(fd);
    JSValue s = err ? JS_NULL : JS_NewStringLen(ctx, b.p ? b.p : "", b.len);
    free(b.p);
    return pair(ctx, s, err);
}

/* writeFile(path, data, flags, mode) -> errno; a short write (ENOSPC) is an error. */
static JSValue js_write_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int flags, mode;
    size_t len;
    if (JS_ToInt32(ctx, &flags, argv[2]) || JS_ToInt32(ctx, &mode, argv[3]))
        return JS_EXCEPTION;
    const char *path = JS_ToCString(ctx, argv[0]);
    const char *data = JS_ToCStringLen(ctx, &len, argv[1]);
    int err = 0;
    if (!path || !data) {
        err = EINVAL;
        goto out;
    }
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0) {
        err = errno;
        goto out;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        off += n;
    }
    if (close(fd) < 0 && !err)
        err = errno;
out:
    JS_FreeCString(ctx, path); /* NULL-safe */
    JS_FreeCString(ctx, data);
    return JS_NewInt32(ctx, err);
}

static JSValue js_link(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *a = JS_ToCString(ctx, argv[0]);
    const char *b = JS_ToCString(ctx, argv[1]);
    int err = !a || !b ? EINVAL : link(a, b) < 0 ? errno : 0;
    JS_FreeCString(ctx, a);
    JS_FreeCString(ctx, b);
    return JS_NewInt32(ctx, err);
}

static JSValue js_flock(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd, op;
    if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &op, argv[1]))
        return JS_EXCEPTION;
    int r;
    while ((r = flock(fd, op)) < 0 && errno == EINTR)
        ;
    return JS_NewInt32(ctx, r < 0 ? errno : 0);
}

static JSValue js_setns(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd, type;
    if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &type, argv[1]))
        return JS_EXCEPTION;
    return JS_NewInt32(ctx, setns(fd, type) < 0 ? errno : 0);
}

/* statfsType(path) -> [f_type, errno] */
static JSValue js_statfs_type(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *path = JS_ToCString(ctx, argv[0]);
    if (!path)
        return JS_EXCEPTION;
    struct statfs st;
    int r = statfs(path, &st);
    int err = r < 0 ? errno : 0;
    JS_FreeCString(ctx, path);
    return pair(ctx, JS_NewInt64(ctx, r < 0 ? 0 : (int64_t)st.f_type), err);
}

static JSValue js_getpid(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return JS_NewInt32(ctx, getpid());
}

static JSValue js_errno_name(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int e;
    if (JS_ToInt32(ctx, &e, argv[0]))
        return JS_EXCEPTION;
    const char *n = strerrorname_np(e);
    return JS_NewString(ctx, n ? n : "EUNKNOWN");
}

/* randomBytes(n) -> ArrayBuffer */
static JSValue js_random_bytes(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    uint8_t b[256];
    int n;
    if (JS_ToInt32(ctx, &n, argv[0]) || n < 0 || n > (int)sizeof(b))
        return JS_ThrowRangeError(ctx, "randomBytes: 0..256 bytes");
    for (int off = 0; off < n;) {
        ssize_t r = getrandom(b + off, n - off, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return JS_ThrowInternalError(ctx, "getrandom: %s", strerror(errno));
        }
        off += r;
    }
    return JS_NewArrayBufferCopy(ctx, b, n);
}

/* utf8(string) -> ArrayBuffer of its UTF-8 bytes (for hashing). */
static JSValue js_utf8(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    const char *s = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!s)
        return JS_EXCEPTION;
    JSValue ab = JS_NewArrayBufferCopy(ctx, (const uint8_t *)s, len);
    JS_FreeCString(ctx, s);
    return ab;
}

/*
 * Child processes. spawn() starts one with stdin fed from `input` and stdout
 * and stderr captured; wait() collects it. Between the two the caller may do
 * other work: that is how an ADD overlaps the bridge query with its own steps.
 */
struct child {
    int used;
    pid_t pid;
    int in, out, err;
    char *input;
    size_t input_len, input_off;
    /* stdin stays open for feed() until wait(): the child starts before its input is known. */
    int more_input;
};

static struct child children[32];

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void feed_input(struct child *c)
{
    while (c->in >= 0 && c->input_off < c->input_len) {
        ssize_t n = write(c->in, c->input + c->input_off, c->input_len - c->input_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            break; /* EPIPE: the child stopped reading; its exit status tells */
        }
        c->input_off += n;
    }
    if (c->in >= 0 && (!c->more_input || c->input_off < c->input_len)) {
        close(c->in);
        c->in = -1;
    }
}

/* spawn(argv, env, input, moreInput) -> [handle, errno]; with moreInput, stdin stays open for feed(). */
static JSValue js_spawn(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int slot = -1;
    for (int i = 0; i < (int)countof(children); i++)
        if (!children[i].used) {
            slot = i;
            break;
        }
    if (slot < 0)
        return pair(ctx, JS_NewInt32(ctx, -1), EAGAIN);
    struct child *c = &children[slot];
    size_t input_len = 0;
    const char *input = JS_IsString(argv[2]) ? JS_ToCStringLen(ctx, &input_len, argv[2]) : NULL;
    int more_input = argc > 3 && JS_ToBool(ctx, argv[3]);
    char **args = string_vector(ctx, argv[0]);
    char **env = JS_IsArray(ctx, argv[1]) ? string_vector(ctx, argv[1]) : NULL;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    int err = 0;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    char *input_copy = NULL;
    if (!args || !args[0]) {
        err = EINVAL;
        goto out;
    }
    /* Copied before the child exists: no memory is an error, not an empty stdin. */
    if (input_len > 0 && !(input_copy = malloc(input_len))) {
        err = ENOMEM;
        goto out;
    }
    if (input_copy)
        memcpy(input_copy, input, input_len);
    int stdin_pipe = input_len > 0 || more_input;
    if (pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) || (stdin_pipe && pipe2(pin, O_CLOEXEC))) {
        err = errno;
        goto out;
    }
    if (stdin_pipe)
        posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    /* SIGPIPE is ignored in this process (see init); the child gets it back. */
    posix_spawnattr_t attr;
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    err = posix_spawnp(&pid, args[0], &fa, &attr, args, env ? env : environ);
    posix_spawnattr_destroy(&attr);
    if (err)
        goto out;
    *c = (struct child){.used = 1, .pid = pid, .in = -1, .out = pout[0], .err = perr[0]};
    pout[0] = perr[0] = -1;
    set_nonblock(c->out);
    set_nonblock(c->err);
    if (stdin_pipe) {
        c->in = pin[1];
        pin[1] = -1;
        c->input = input_copy;
        c->input_len = input_len;
        c->more_input = more_input;
        input_copy = NULL;
        set_nonblock(c->in);
        feed_input(c);
    }
out:
    free(input_copy);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
    }
    JS_FreeCString(ctx, input);
    free_vector(args);
    free_vector(env);
    return pair(ctx, JS_NewInt32(ctx, err ? -1 : slot), err);
}

/* feed(handle, data) -> errno: appends to the input of a child spawned with moreInput. */
static JSValue js_feed(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int slot;
    if (JS_ToInt32(ctx, &slot, argv[0]) || slot < 0 || slot >= (int)countof(children) || !children[slot].used)
        return JS_ThrowRangeError(ctx, "feed: no such child");
    struct child *c = &children[slot];
    if (!c->more_input)
        return JS_NewInt32(ctx, EINVAL);
    size_t len;
    const char *data = JS_ToCStringLen(ctx, &len, argv[1]);
    if (!data)
        return JS_EXCEPTION;
    int err = 0;
    char *grown = realloc(c->input, c->input_len + len);
    if (!grown && c->input_len + len > 0) {
        err = ENOMEM;
    } else {
        c->input = grown;
        memcpy(c->input + c->input_len, data, len);
        c->input_len += len;
        feed_input(c);
    }
    JS_FreeCString(ctx, data);
    return JS_NewInt32(ctx, err);
}

/* Reads what a child's pipe has now; closes it at EOF (or on an error, which ends the output too). */
static void drain(int *fd, struct buf *b)
{
    if (read_into(*fd, b, SIZE_MAX) == EAGAIN)
        return;
    close(*fd);
    *fd = -1;
}

/* wait(handle) -> [status, stdout, stderr]; status is 128+signal for a killed child. */
static JSValue js_wait(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int slot;
    if (JS_ToInt32(ctx, &slot, argv[0]) || slot < 0 || slot >= (int)countof(children) || !children[slot].used)
        return JS_ThrowRangeError(ctx, "wait: no such child");
    struct child *c = &children[slot];
    struct buf out = {0}, errb = {0};
    /* Waiting for a child means its input is complete. */
    c->more_input = 0;
    feed_input(c);
    while (c->out >= 0 || c->err >= 0) {
        struct pollfd p[3];
        int n = 0;
        if (c->out >= 0)
            p[n++] = (struct pollfd){.fd = c->out, .events = POLLIN};
        if (c->err >= 0)
            p[n++] = (struct pollfd){.fd = c->err, .events = POLLIN};
        if (c->in >= 0)
            p[n++] = (struct pollfd){.fd = c->in, .events = POLLOUT};
        if (poll(p, n, -1) < 0 && errno != EINTR)
            break;
        if (c->in >= 0)
            feed_input(c);
        if (c->out >= 0)
            drain(&c->out, &out);
        if (c->err >= 0)
            drain(&c->err, &errb);
    }
    if (c->in >= 0)
        close(c->in);
    int st = 0;
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
        ;
    free(c->input);
    memset(c, 0, sizeof(*c));
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    JSValue a = JS_NewArray(ctx);
    JS_SetPropertyUint32(ctx, a, 0, JS_NewInt32(ctx, code));
    JS_SetPropertyUint32(ctx, a, 1, JS_NewStringLen(ctx, out.p ? out.p : "", out.len));
    JS_SetPropertyUint32(ctx, a, 2, JS_NewStringLen(ctx, errb.p ? errb.p : "", errb.len));
    free(out.p);
    free(errb.p);
    return a;
}

/* execv(path, argv) -> errno; on success it does not return. A bare name is looked up on PATH. */
static JSValue js_execv(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *path = JS_ToCString(ctx, argv[0]);
    char **args = string_vector(ctx, argv[1]);
    if (path && args)
        execvp(path, args);
    int err = path && args ? errno : EINVAL;
    JS_FreeCString(ctx, path);
    free_vector(args);
    return JS_NewInt32(ctx, err);
}

/*
 * linkInfo(name) -> [ifindex, flags, mac, [[family, address, prefixlen], ...]] | null (absent) | errno
 * getifaddrs(3) asks the kernel over netlink from this thread's namespace, so
 * unlike sysfs (which shows the namespace it was mounted in) it is right
 * wherever the plugin runs, and it needs no process.
 */
static int prefix_len(const struct sockaddr *mask)
{
    const unsigned char *b;
    size_t n;
    if (!mask)
        return -1;
    if (mask->sa_family == AF_INET) {
        b = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
        n = 4;
    } else if (mask->sa_family == AF_INET6) {
        b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
        n = 16;
    } else {
        return -1;
    }
    int len = 0;
    for (size_t i = 0; i < n; i++)
        len += __builtin_popcount(b[i]);
    return len;
}

/* A small sysfs attribute of a link, trailing newline cut; -1 when unreadable. */
static int sysfs_attr(const char *name, const char *attr, char *out, size_t n)
{
    char path[96];
    if (snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, attr) >= (int)sizeof(path))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, out, n - 1);
    close(fd);
    if (r <= 0)
        return -1;
    out[r] = 0;
    if (out[r - 1] == '\n')
        out[r - 1] = 0;
    return 0;
}

/*
 * addr_assign_type of a link from sysfs (3: its MAC was set, so a bridge keeps
 * it as ports come and go), or -1. sysfs shows the namespace it was mounted
 * in, so it is believed only when its ifindex and MAC for this name are the
 * ones netlink just gave.
 */
static int sysfs_assign_type(const char *name, JSValueConst link, JSContext *ctx)
{
    char ifindex[32], mac[64], type[16];
    if (strchr(name, '/') || sysfs_attr(name, "ifindex", ifindex, sizeof(ifindex)) || sysfs_attr(name, "address", mac, sizeof(mac)) || sysfs_attr(name, "addr_assign_type", type, sizeof(type)))
        return -1;
    int32_t idx = 0;
    JSValue v = JS_GetPropertyUint32(ctx, link, 0);
    JS_ToInt32(ctx, &idx, v);
    JS_FreeValue(ctx, v);
    v = JS_GetPropertyUint32(ctx, link, 2);
    const char *nl_mac = JS_ToCString(ctx, v);
    JS_FreeValue(ctx, v);
    int same = nl_mac && atoi(ifindex) == idx && strcmp(mac, nl_mac) == 0;
    JS_FreeCString(ctx, nl_mac);
    return same ? atoi(type) : -1;
}

static JSValue js_link_info(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    const char *name = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!name)
        return JS_EXCEPTION;
    if (strlen(name) != len) {
        JS_FreeCString(ctx, name);
        return JS_NewInt32(ctx, EINVAL);
    }
    struct ifaddrs *all;
    if (getifaddrs(&all) < 0) {
        int err = errno;
        JS_FreeCString(ctx, name);
        return JS_NewInt32(ctx, err);
    }
    JSValue link = JS_NULL, addrs = JS_NewArray(ctx);
    uint32_t naddrs = 0;
    for (struct ifaddrs *a = all; a; a = a->ifa_next) {
        if (strcmp(a->ifa_name, name) != 0 || !a->ifa_addr)
            continue;
        if (JS_IsNull(link)) {
            link = JS_NewArray(ctx);
            JS_SetPropertyUint32(ctx, link, 0, JS_NewInt32(ctx, (int32_t)if_nametoindex(name)));
            JS_SetPropertyUint32(ctx, link, 2, JS_NewString(ctx, ""));
        }
        /* The link-layer entry carries the link's own flags and MAC. */
        if (a->ifa_addr->sa_family == AF_PACKET) {
            const struct sockaddr_ll *ll = (const struct sockaddr_ll *)a->ifa_addr;
            char mac[3 * 8] = "";
            size_t off = 0;
            for (int i = 0; i < ll->sll_halen && i < 8; i++)
                off += snprintf(mac + off, sizeof(mac) - off, i ? ":%02x" : "%02x", ll->sll_addr[i]);
            JS_SetPropertyUint32(ctx, link, 1, JS_NewUint32(ctx, a->ifa_flags));
            JS_SetPropertyUint32(ctx, link, 2, JS_NewString(ctx, mac));
        } else if (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6) {
            char text[INET6_ADDRSTRLEN];
            const void *src = a->ifa_addr->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)a->ifa_addr)->sin_addr : (const void *)&((const struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
            if (inet_ntop(a->ifa_addr->sa_family, src, text, sizeof(text))) {
                JSValue one = JS_NewArray(ctx);
                JS_SetPropertyUint32(ctx, one, 0, JS_NewInt32(ctx, a->ifa_addr->sa_family == AF_INET ? 4 : 6));
                JS_SetPropertyUint32(ctx, one, 1, JS_NewString(ctx, text));
                JS_SetPropertyUint32(ctx, one, 2, JS_NewInt32(ctx, prefix_len(a->ifa_netmask)));
                JS_SetPropertyUint32(ctx, addrs, naddrs++, one);
            }
        }
    }
    freeifaddrs(all);
    if (JS_IsNull(link)) {
        JS_FreeCString(ctx, name);
        JS_FreeValue(ctx, addrs);
        return JS_NULL;
    }
    JS_SetPropertyUint32(ctx, link, 3, addrs);
    JS_SetPropertyUint32(ctx, link, 4, JS_NewInt32(ctx, sysfs_assign_type(name, link, ctx)));
    JS_FreeCString(ctx, name);
    return link;
}

/* linkDriver(name) -> [driver, errno]: the kernel driver of a link ("bridge", "veth"), by ethtool. */
static JSValue js_link_driver(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    const char *name = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!name)
        return JS_EXCEPTION;
    int err = 0;
    struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
    struct ifreq ifr = {0};
    if (len == 0 || len >= IFNAMSIZ || strlen(name) != len) {
        err = EINVAL;
    } else {
        memcpy(ifr.ifr_name, name, len);
        ifr.ifr_data = (void *)&info;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && (fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
            err = errno;
        else {
            if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
                err = errno;
            close(fd);
        }
    }
    JS_FreeCString(ctx, name);
    info.driver[sizeof(info.driver) - 1] = 0;
    return pair(ctx, err ? JS_NULL : JS_NewString(ctx, info.driver), err);
}

/*
 * readDirFiles(dir, maxBytes) -> [[name, content], ...] | errno: every regular
 * file of a directory, read whole (each up to maxBytes; larger ones are
 * skipped). The IPAM store is one small file per lease and every ADD reads
 * them all (as Go host-local does): in C that is a few microseconds a file.
 */
static JSValue js_read_dir_files(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int64_t max = 4096;
    if (argc > 1 && !JS_IsUndefined(argv[1]))
        JS_ToInt64(ctx, &max, argv[1]);
    size_t len;
    const char *path = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!path)
        return JS_EXCEPTION;
    if (strlen(path) != len) {
        JS_FreeCString(ctx, path);
        return JS_NewInt32(ctx, EINVAL);
    }
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    JS_FreeCString(ctx, path);
    if (dfd < 0)
        return JS_NewInt32(ctx, errno);
    DIR *d = fdopendir(dfd);
    if (!d) {
        int err = errno;
        close(dfd);
        return JS_NewInt32(ctx, err);
    }
    JSValue list = JS_NewArray(ctx);
    uint32_t n = 0;
    struct buf b = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        /* O_NOFOLLOW: a symlink planted in the store is not a lease. */
        int fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
            continue;
        struct stat st;
        b.len = 0;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read_into(fd, &b, (size_t)max) == 0) {
            JSValue one = JS_NewArray(ctx);
            JS_SetPropertyUint32(ctx, one, 0, JS_NewString(ctx, e->d_name));
            JS_SetPropertyUint32(ctx, one, 1, JS_NewStringLen(ctx, b.p ? b.p : "", b.len));
            JS_SetPropertyUint32(ctx, list, n++, one);
        }
        close(fd);
    }
    free(b.p);
    closedir(d);
    return list;
}

/*
 * findFiles(dir, contents, prefix, maxBytes) -> [[names per content...], [names with prefix]] | errno
 * Names of the regular files of dir whose content, with surrounding
 * whitespace trimmed, equals contents[i] (the IPAM store's "who owns which
 * address", Go's GetByID), and the names that start with prefix (without
 * reading them). One call, no string made per file that does not match.
 */
static int trimmed_equal(const char *p, size_t n, const char *want, size_t wn)
{
    while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\v' || *p == '\f'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == '\v' || p[n - 1] == '\f'))
        n--;
    return n == wn && memcmp(p, want, n) == 0;
}

static JSValue js_find_files(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int64_t max = 65536;
    if (argc > 3 && !JS_IsUndefined(argv[3]))
        JS_ToInt64(ctx, &max, argv[3]);
    size_t len, plen;
    const char *path = JS_ToCStringLen(ctx, &len, argv[0]);
    const char *prefix = JS_ToCStringLen(ctx, &plen, argv[2]);
    char **wanted = string_vector(ctx, argv[1]);
    JSValue ret;
    int nw = 0;
    while (wanted && wanted[nw])
        nw++;
    int dfd = -1;
    DIR *d = NULL;
    if (!path || !prefix || !wanted || strlen(path) != len) {
        ret = JS_NewInt32(ctx, !path || !prefix || !wanted ? ENOMEM : EINVAL);
        goto out;
    }
    if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || !(d = fdopendir(dfd))) {
        ret = JS_NewInt32(ctx, errno);
        goto out;
    }
    dfd = -1; /* owned by d now */
    JSValue lists = JS_NewArray(ctx), prefixed = JS_NewArray(ctx);
    uint32_t counts[64] = {0}, np = 0;
    if (nw > 64)
        nw = 64;
    for (int i = 0; i < nw; i++)
        JS_SetPropertyUint32(ctx, lists, i, JS_NewArray(ctx));
    struct buf b = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        if (plen > 0 && strncmp(e->d_name, prefix, plen) == 0) {
            JS_SetPropertyUint32(ctx, prefixed, np++, JS_NewString(ctx, e->d_name));
            continue;
        }
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
            continue;
        struct stat st;
        b.len = 0;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read_into(fd, &b, (size_t)max) == 0) {
            for (int i = 0; i < nw; i++) {
                if (trimmed_equal(b.p ? b.p : "", b.len, wanted[i], strlen(wanted[i]))) {
                    JSValue l = JS_GetPropertyUint32(ctx, lists, i);
                    JS_SetPropertyUint32(ctx, l, counts[i]++, JS_NewString(ctx, e->d_name));
                    JS_FreeValue(ctx, l);
                }
            }
        }
        close(fd);
    }
    free(b.p);
    ret = JS_NewArray(ctx);
    JS_SetPropertyUint32(ctx, ret, 0, lists);
    JS_SetPropertyUint32(ctx, ret, 1, prefixed);
out:
    if (d)
        closedir(d);
    if (dfd >= 0)
        close(dfd);
    JS_FreeCString(ctx, path);
    JS_FreeCString(ctx, prefix);
    free_vector(wanted);
    return ret;
}

/* now() -> milliseconds on the monotonic clock (QuickJS 2021 has no performance.now). */
static JSValue js_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return JS_NewFloat64(ctx, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

static const JSCFunctionListEntry funcs[] = {
    JS_CFUNC_DEF("readFile", 2, js_read_file),
    JS_CFUNC_DEF("writeFile", 4, js_write_file),
    JS_CFUNC_DEF("link", 2, js_link),
    JS_CFUNC_DEF("flock", 2, js_flock),
    JS_CFUNC_DEF("setns", 2, js_setns),
    JS_CFUNC_DEF("statfsType", 1, js_statfs_type),
    JS_CFUNC_DEF("getpid", 0, js_getpid),
    JS_CFUNC_DEF("errnoName", 1, js_errno_name),
    JS_CFUNC_DEF("randomBytes", 1, js_random_bytes),
    JS_CFUNC_DEF("utf8", 1, js_utf8),
    JS_CFUNC_DEF("spawn", 4, js_spawn),
    JS_CFUNC_DEF("feed", 2, js_feed),
    JS_CFUNC_DEF("wait", 1, js_wait),
    JS_CFUNC_DEF("execv", 2, js_execv),
    JS_CFUNC_DEF("linkInfo", 1, js_link_info),
    JS_CFUNC_DEF("readDirFiles", 2, js_read_dir_files),
    JS_CFUNC_DEF("now", 0, js_now),
    JS_CFUNC_DEF("findFiles", 4, js_find_files),
    JS_CFUNC_DEF("linkDriver", 1, js_link_driver),
};

static int init(JSContext *ctx, JSModuleDef *m)
{
    return JS_SetModuleExportList(ctx, m, funcs, countof(funcs));
}

JSModuleDef *js_init_module_flatnet_sys(JSContext *ctx, const char *name)
{
    /*
     * As Node does: a child that exits before reading all its input (an
     * iptables-restore that rejects line 1) must not kill the plugin mid-ADD
     * with SIGPIPE; the write fails with EPIPE and the exit status tells.
     */
    signal(SIGPIPE, SIG_IGN);
    JSModuleDef *m = JS_NewCModule(ctx, name, init);
    if (m)
        JS_AddModuleExportList(ctx, m, funcs, countof(funcs));
    return m;
}
