/*
 * flatnet_sys: the system calls the CNI binaries need that QuickJS's own
 * std/os modules lack (link, flock, setns, statfs, posix_spawn with captured
 * output, execv), plus open (always O_CLOEXEC), whole-file read/write and an
 * unbuffered write to an fd, all with errno, so the TypeScript shims can
 * report ENOENT/EEXIST/ENOSPC the way Node's fs does.
 *
 * Every function returns errno values instead of throwing: the shims turn them
 * into Node-style errors with a `code`, which the shared code already handles.
 * A string with a NUL inside is EINVAL, never the C string cut short at it;
 * a failed allocation is ENOMEM, never a short result. Only a JS conversion
 * failure (QuickJS out of memory, a Symbol for a path) throws.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quickjs.h"

#define countof(x) (sizeof(x) / sizeof((x)[0]))

extern char **environ;

#ifdef FLATNET_FAULTS
/*
 * Test builds only (scripts/build.mjs's buildQuickjs with -DFLATNET_FAULTS):
 * injectFault(name, skip) makes the call `name` fail once, after `skip`
 * calls that succeed, so the error paths below run in the real build. The
 * shipped binaries are compiled without any of this.
 */
static char fault_name[16];
static int fault_skip = -1;

static int fault(const char *name)
{
    if (fault_skip < 0 || strcmp(name, fault_name) != 0)
        return 0;
    return fault_skip-- == 0;
}

static JSValue js_inject_fault(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *name = JS_ToCString(ctx, argv[0]);
    if (!name || JS_ToInt32(ctx, &fault_skip, argv[1])) {
        JS_FreeCString(ctx, name);
        return JS_EXCEPTION;
    }
    snprintf(fault_name, sizeof(fault_name), "%s", name);
    JS_FreeCString(ctx, name);
    return JS_UNDEFINED;
}

/* A function-like macro does not expand inside itself: the inner call is the real one. */
#define malloc(n) (fault("malloc") ? (errno = ENOMEM, NULL) : malloc(n))
#define calloc(n, s) (fault("calloc") ? (errno = ENOMEM, NULL) : calloc(n, s))
#define realloc(p, n) (fault("realloc") ? (errno = ENOMEM, NULL) : realloc(p, n))
#define poll(p, n, t) (fault("poll") ? (errno = ENOMEM, -1) : poll(p, n, t))
#define pipe2(p, f) (fault("pipe2") ? (errno = EMFILE, -1) : pipe2(p, f))
#define read(fd, p, n) (fault("read") ? (errno = EIO, -1) : read(fd, p, n))
#define write(fd, p, n) (fault("write") ? (errno = EIO, -1) : write(fd, p, n))
/* As with SIGCHLD ignored: the kernel reaps the child and waitpid finds none. */
#define waitpid(p, s, o) (fault("waitpid") ? (waitpid(p, NULL, o), errno = ECHILD, -1) : waitpid(p, s, o))
#define setns(fd, t) (fault("setns") ? (errno = ENOMEM, -1) : setns(fd, t))
/* QuickJS out of memory while a result is built: the exception, never a half-made list. */
#define JS_NewArray(ctx) (fault("jsarray") ? (JS_ThrowOutOfMemory(ctx), JS_EXCEPTION) : JS_NewArray(ctx))
#define JS_SetPropertyUint32(ctx, o, i, v) (fault("jsset") ? (JS_FreeValue(ctx, v), JS_ThrowOutOfMemory(ctx), -1) : JS_SetPropertyUint32(ctx, o, i, v))
#define readdir(d) (fault("readdir") ? (errno = EIO, (struct dirent *)NULL) : readdir(d))
#define recv(fd, b, n, f) (fault("recv") ? (errno = EAGAIN, -1) : fault("recvtrunc") ? (ssize_t)(n) + 1 : recv(fd, b, n, f))
#define fork() (fault("fork") ? (errno = EAGAIN, -1) : fork())
/* Armed before fork, it fails in the child (which has its own copy of the counter): the start-up error path. */
#define dup2(a, b) (fault("dup2") ? (errno = EBADF, -1) : dup2(a, b))
#define fcntl(...) (fault("fcntl") ? (errno = EBADF, -1) : fcntl(__VA_ARGS__))
#endif

struct buf {
    char *p;
    size_t len, cap;
};

/* Room for `more` bytes past len, growing by doubling but never past `limit` bytes in all. */
static int buf_reserve(struct buf *b, size_t more, size_t limit)
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
static int read_into(int fd, struct buf *b, size_t max)
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
static int put(JSContext *ctx, JSValueConst arr, uint32_t i, JSValue v)
{
    if (JS_IsException(v))
        return -1;
    return JS_SetPropertyUint32(ctx, arr, i, v) < 0 ? -1 : 0;
}

/*
 * An array of the values, which it takes over; JS_EXCEPTION (with the
 * exception pending) when any of them is one or the array cannot be made.
 */
static JSValue tuple(JSContext *ctx, int n, JSValue *v)
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

static JSValue pair(JSContext *ctx, JSValue v, int err)
{
    return tuple(ctx, 2, (JSValue[]){v, JS_NewInt32(ctx, err)});
}

/*
 * A JS string as a C string (free it with JS_FreeCString). Returns 0, EINVAL
 * for a NUL inside it (C would silently act on the part before the NUL: Node
 * refuses such a path too), or -1 with a JS exception pending.
 */
static int c_string(JSContext *ctx, JSValueConst v, const char **out)
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
static void free_vector(JSContext *ctx, const char **v)
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
static int string_vector(JSContext *ctx, JSValueConst arr, const char ***out)
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

/* The JS result of a call that failed with `r` from c_string/string_vector: an exception, or the errno. */
#define FAIL(ctx, r) ((r) < 0 ? JS_EXCEPTION : JS_NewInt32(ctx, r))

/* readFile(path | fd, maxBytes) -> [string | null, errno] */
static JSValue js_read_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int64_t max = 64 << 20;
    if (argc > 1 && !JS_IsUndefined(argv[1]) && JS_ToInt64(ctx, &max, argv[1]))
        return JS_EXCEPTION;
    int fd, own = 0;
    if (JS_IsNumber(argv[0])) {
        if (JS_ToInt32(ctx, &fd, argv[0]))
            return JS_EXCEPTION;
    } else {
        const char *path;
        int r = c_string(ctx, argv[0], &path);
        if (r)
            return r < 0 ? JS_EXCEPTION : pair(ctx, JS_NULL, r);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        JS_FreeCString(ctx, path);
        if (fd < 0)
            return pair(ctx, JS_NULL, errno);
        own = 1;
    }
    struct buf b = {0};
    int err;
    /* A runtime may hand over a non-blocking stdin: wait for data rather than fail. */
    while ((err = read_into(fd, &b, max < 0 ? 0 : (size_t)max)) == EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            err = errno;
            break;
        }
    }
    if (own)
        close(fd);
    JSValue s = err ? JS_NULL : JS_NewStringLen(ctx, b.p ? b.p : "", b.len);
    free(b.p);
    return pair(ctx, s, err);
}

/* Writes all of data to fd, waiting when a non-blocking fd is full; 0 or errno. */
static int write_all(int fd, const char *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return errno;
            continue;
        }
        if (n < 0 && errno != EINTR)
            return errno;
        if (n > 0)
            off += n;
    }
    return 0;
}

/* writeFile(path, data, flags, mode) -> errno; a short write (ENOSPC) is an error. */
static JSValue js_write_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int flags, mode;
    size_t len;
    if (JS_ToInt32(ctx, &flags, argv[2]) || JS_ToInt32(ctx, &mode, argv[3]))
        return JS_EXCEPTION;
    const char *path;
    int r = c_string(ctx, argv[0], &path);
    if (r)
        return FAIL(ctx, r);
    const char *data = JS_ToCStringLen(ctx, &len, argv[1]);
    if (!data) {
        JS_FreeCString(ctx, path);
        return JS_EXCEPTION;
    }
    int err = 0;
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0)
        err = errno;
    else
        err = write_all(fd, data, len);
    if (fd >= 0 && close(fd) < 0 && !err)
        err = errno;
    JS_FreeCString(ctx, path);
    JS_FreeCString(ctx, data);
    return JS_NewInt32(ctx, err);
}

/* writeFd(fd, data) -> errno: stdout and stderr unbuffered, so a failed write is seen. */
static JSValue js_write_fd(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd;
    size_t len;
    if (JS_ToInt32(ctx, &fd, argv[0]))
        return JS_EXCEPTION;
    const char *data = JS_ToCStringLen(ctx, &len, argv[1]);
    if (!data)
        return JS_EXCEPTION;
    int err = write_all(fd, data, len);
    JS_FreeCString(ctx, data);
    return JS_NewInt32(ctx, err);
}

/* open(path, flags, mode) -> [fd, errno]; always O_CLOEXEC, so no child inherits it. */
static JSValue js_open(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int flags, mode;
    if (JS_ToInt32(ctx, &flags, argv[1]) || JS_ToInt32(ctx, &mode, argv[2]))
        return JS_EXCEPTION;
    const char *path;
    int r = c_string(ctx, argv[0], &path);
    if (r)
        return r < 0 ? JS_EXCEPTION : pair(ctx, JS_NewInt32(ctx, -1), r);
    int fd = open(path, flags | O_CLOEXEC, mode);
    int err = fd < 0 ? errno : 0;
    JS_FreeCString(ctx, path);
    JSValue ret = pair(ctx, JS_NewInt32(ctx, fd), err);
    if (JS_IsException(ret) && fd >= 0)
        close(fd); /* nobody would know to close it */
    return ret;
}

/* fstat(fd) -> [[dev, ino, mode, size] | null, errno]: what an open file is (a log must be a regular file). */
static JSValue js_fstat(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd;
    if (JS_ToInt32(ctx, &fd, argv[0]))
        return JS_EXCEPTION;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return pair(ctx, JS_NULL, errno);
    return pair(ctx, tuple(ctx, 4, (JSValue[]){JS_NewFloat64(ctx, (double)st.st_dev), JS_NewFloat64(ctx, (double)st.st_ino), JS_NewInt32(ctx, (int32_t)st.st_mode), JS_NewFloat64(ctx, (double)st.st_size)}), 0);
}

static JSValue js_link(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *a, *b = NULL;
    int r = c_string(ctx, argv[0], &a);
    if (!r)
        r = c_string(ctx, argv[1], &b);
    if (!r)
        r = link(a, b) < 0 ? errno : 0;
    JS_FreeCString(ctx, a); /* NULL-safe */
    JS_FreeCString(ctx, b);
    return FAIL(ctx, r);
}

/* unnamedFile(dir, data, mode) -> [fd, errno]: a file in dir with data and
 * no name (O_TMPFILE), for linkFd to give it one or more: a process killed
 * before that leaves nothing behind. errno EOPNOTSUPP/EISDIR/EINVAL where the
 * filesystem or kernel has no O_TMPFILE: the caller writes a named file. */
static JSValue js_unnamed_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int mode;
    size_t len;
    if (JS_ToInt32(ctx, &mode, argv[2]))
        return JS_EXCEPTION;
    const char *dir;
    int r = c_string(ctx, argv[0], &dir);
    if (r)
        return r < 0 ? JS_EXCEPTION : pair(ctx, JS_NewInt32(ctx, -1), r);
    const char *data = JS_ToCStringLen(ctx, &len, argv[1]);
    if (!data) {
        JS_FreeCString(ctx, dir);
        return JS_EXCEPTION;
    }
    int err = 0;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0)
        err = errno;
    else if ((err = write_all(fd, data, len)) != 0) {
        close(fd);
        fd = -1;
    }
    JS_FreeCString(ctx, dir);
    JS_FreeCString(ctx, data);
    JSValue ret = pair(ctx, JS_NewInt32(ctx, fd), err);
    if (JS_IsException(ret) && fd >= 0)
        close(fd);
    return ret;
}

/* linkFd(fd, path) -> errno: a name for the file open at fd (linkat through
 * /proc/self/fd, which needs no privilege); EEXIST when path is taken. */
static JSValue js_link_fd(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd;
    if (JS_ToInt32(ctx, &fd, argv[0]))
        return JS_EXCEPTION;
    const char *path;
    int r = c_string(ctx, argv[1], &path);
    if (r)
        return FAIL(ctx, r);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    r = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0 ? errno : 0;
    JS_FreeCString(ctx, path);
    return JS_NewInt32(ctx, r);
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
    const char *path;
    int r = c_string(ctx, argv[0], &path);
    if (r < 0)
        return JS_EXCEPTION;
    struct statfs st = {0};
    if (!r)
        r = statfs(path, &st) < 0 ? errno : 0;
    JS_FreeCString(ctx, path);
    return pair(ctx, JS_NewInt64(ctx, r ? 0 : (int64_t)st.f_type), r);
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

/*
 * Child processes. spawn() starts one with stdin fed from `input` and stdout
 * and stderr captured; wait() collects it. Between the two the caller may do
 * other work: that is how an ADD overlaps the bridge query with its own steps.
 *
 * A child never outlives the plugin: it asks for SIGKILL when its parent dies
 * (PR_SET_PDEATHSIG), and exits at once when the parent died before it could
 * ask. A runtime that kills an ADD on its timeout must not leave an
 * iptables-restore waiting on the xtables lock to commit a pod's rules after
 * the DEL that followed found nothing. And every child has a time limit
 * (spawn's timeoutMs), after which it is killed and reaped and wait() reports
 * ETIMEDOUT: an `ip` stuck on a wedged netlink or a lock held for ever would
 * otherwise hold the ADD until the runtime kills it, and the ADD could not
 * undo what it did.
 */
struct child {
    int used;
    pid_t pid;
    int in, out, err;
    char *input;
    size_t input_len, input_off;
    /* stdin stays open for feed() until wait(): the child starts before its input is known. */
    int more_input;
    /* CLOCK_MONOTONIC ms after which the child is killed. */
    double deadline;
};

static struct child children[32];

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int reap(struct child *c, int *st);

/* SIGKILL to the child and to its process group (what it started), at its time limit or when it is given up. */
static void kill_child(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? errno : 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
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
    if (!c->more_input || c->input_off < c->input_len)
        close_fd(&c->in);
}

/*
 * In the child between fork and exec: tie it to the parent's life, set up its
 * stdio, give back SIGPIPE (ignored in this process, see the module's init)
 * and exec. Only async-signal-safe calls; on failure the errno goes to the
 * parent through `report` (close-on-exec: EOF there means exec succeeded).
 */
static void child_exec(pid_t parent, int in, int out, int err, int report, char *const *args, char *const *env)
{
    int e;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
        e = errno;
        goto fail;
    }
    /* The parent died before the line above: nobody would reap or kill this child. */
    if (getppid() != parent)
        _exit(127);
    /* A group of its own: at its time limit the child is killed with whatever it started. */
    setpgid(0, 0);
    if (in < 0 && (in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        e = errno;
        goto fail;
    }
    /* Above 2 first, so that no dup2 below overwrites a source (a parent started with stdout closed gets a pipe at 1). */
    int fds[3] = {in, out, err};
    for (int i = 0; i < 3; i++) {
        if ((fds[i] = (fcntl)(fds[i], F_DUPFD_CLOEXEC, 3)) < 0) {
            e = errno;
            goto fail;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) {
            e = errno;
            goto fail;
        }
    }
    signal(SIGPIPE, SIG_DFL);
    execvpe(args[0], args, env);
    e = errno;
fail:
    (write)(report, &e, sizeof e);
    _exit(127);
}

/*
 * Starts args with env into c, which takes over `input` (len bytes, malloc'ed)
 * on success; with more_input its stdin stays open for feed(). Returns 0 or
 * errno; on failure nothing is left open or running.
 */
static int start_child(struct child *c, char *const *args, char *const *env, char *input, size_t len, int more_input, double timeout_ms)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, report[2] = {-1, -1};
    int err = 0;
    pid_t parent = getpid(), pid;
    if (pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC) || ((len > 0 || more_input) && pipe2(pin, O_CLOEXEC)) || pipe2(report, O_CLOEXEC)) {
        err = errno;
        goto out;
    }
    if ((pid = fork()) < 0) {
        err = errno;
        goto out;
    }
    if (pid == 0)
        child_exec(parent, pin[0], pout[1], perr[1], report[1], args, env);
    close_fd(&report[1]);
    /* Until exec or the child's exit: an errno when it could not start (ENOENT: no such program). */
    int child_errno = 0;
    ssize_t n;
    while ((n = (read)(report[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
        ;
    if (n == sizeof child_errno || n < 0) {
        err = n < 0 ? errno : child_errno;
        kill_child(pid); /* only when the read failed is it still running */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto out;
    }
    *c = (struct child){.used = 1, .pid = pid, .in = pin[1], .out = pout[0], .err = perr[0], .input = input, .input_len = len, .more_input = more_input, .deadline = now_ms() + timeout_ms};
    pin[1] = pout[0] = perr[0] = -1;
    /* A blocking pipe would stall the plugin on a child that writes nothing: without O_NONBLOCK, no child. */
    if ((err = set_nonblock(c->out)) || (err = set_nonblock(c->err)) || (c->in >= 0 && (err = set_nonblock(c->in)))) {
        c->input = NULL; /* still the caller's on failure */
        kill_child(pid);
        int st;
        reap(c, &st);
        goto out;
    }
    if (c->in >= 0)
        feed_input(c);
out:
    for (int i = 0; i < 2; i++) {
        close_fd(&pin[i]);
        close_fd(&pout[i]);
        close_fd(&perr[i]);
        close_fd(&report[i]);
    }
    return err;
}

static volatile sig_atomic_t alarm_rang;

static void on_alarm(int sig)
{
    (void)sig;
    alarm_rang = 1;
}

/*
 * Closes what is left of c's pipes, reaps it (or finds it gone) and frees its
 * slot. Returns 0 with *st its waitpid status, ETIMEDOUT when it was still
 * running at its deadline (killed then, status lost), or the errno of waitpid.
 * The blocking waitpid is interrupted by SIGALRM (no SA_RESTART), repeated
 * every 50 ms after the deadline so that a signal landing just before the
 * call is not lost: a child that closed its output and went on running
 * cannot hold the plugin past its time limit.
 */
static int reap(struct child *c, int *st)
{
    close_fd(&c->in);
    close_fd(&c->out);
    close_fd(&c->err);
    int timed_out = 0, r;
    double left = c->deadline - now_ms();
    /* Collected after its deadline: one that has ended by now ended in time as far as anyone can tell. */
    if (left <= 0 && (r = waitpid(c->pid, st, WNOHANG)) != 0) {
        int err = r < 0 ? errno : 0;
        free(c->input);
        memset(c, 0, sizeof(*c));
        return err;
    }
    if (left <= 0) {
        kill_child(c->pid);
        timed_out = 1;
    }
    struct sigaction old, sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    int armed = !timed_out && sigaction(SIGALRM, &sa, &old) == 0;
    if (armed) {
        long ms = (long)left + 1;
        struct itimerval it = {.it_value = {ms / 1000, (ms % 1000) * 1000}, .it_interval = {0, 50000}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    while ((r = waitpid(c->pid, st, 0)) < 0 && errno == EINTR) {
        if (!timed_out && now_ms() >= c->deadline) {
            kill_child(c->pid);
            timed_out = 1;
        }
    }
    int err = r < 0 ? errno : timed_out ? ETIMEDOUT : 0;
    if (armed) {
        struct itimerval off = {0};
        setitimer(ITIMER_REAL, &off, NULL);
        sigaction(SIGALRM, &old, NULL);
    }
    free(c->input);
    memset(c, 0, sizeof(*c));
    return err;
}

/*
 * spawn(argv, env | null, input, moreInput, timeoutMs) -> [handle, errno]; with
 * moreInput, stdin stays open for feed(). The child is killed timeoutMs after
 * its start if wait() has not collected it by then.
 */
static JSValue js_spawn(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int slot = -1;
    for (int i = 0; i < (int)countof(children) && slot < 0; i++)
        if (!children[i].used)
            slot = i;
    if (slot < 0)
        return pair(ctx, JS_NewInt32(ctx, -1), EAGAIN);
    const char **args = NULL, **env = NULL, *input = NULL;
    char *copy = NULL;
    size_t len = 0;
    int more_input = argc > 3 && JS_ToBool(ctx, argv[3]);
    double timeout_ms = 60e3;
    if (argc > 4 && !JS_IsUndefined(argv[4]) && JS_ToFloat64(ctx, &timeout_ms, argv[4]))
        return JS_EXCEPTION;
    int r = string_vector(ctx, argv[0], &args);
    if (!r && JS_IsArray(ctx, argv[1]))
        r = string_vector(ctx, argv[1], &env);
    if (!r && JS_IsString(argv[2]) && !(input = JS_ToCStringLen(ctx, &len, argv[2])))
        r = -1;
    if (!r && !args[0])
        r = EINVAL;
    /* Copied before the child exists: no memory is an error, not an empty stdin. */
    if (!r && len > 0 && !(copy = malloc(len)))
        r = ENOMEM;
    if (!r) {
        if (len > 0)
            memcpy(copy, input, len);
        r = start_child(&children[slot], (char *const *)args, env ? (char *const *)env : environ, copy, len, more_input, timeout_ms);
        if (!r)
            copy = NULL; /* the child's now */
    }
    free(copy);
    JS_FreeCString(ctx, input);
    free_vector(ctx, args);
    free_vector(ctx, env);
    if (r < 0)
        return JS_EXCEPTION;
    JSValue ret = pair(ctx, JS_NewInt32(ctx, r ? -1 : slot), r);
    if (JS_IsException(ret) && !r) {
        int st;
        kill_child(children[slot].pid); /* no handle reached JS: nobody would wait for it */
        reap(&children[slot], &st);
    }
    return ret;
}

/* feed(handle, data) -> errno: appends to the input of a child spawned with moreInput. */
static JSValue js_feed(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int slot;
    if (JS_ToInt32(ctx, &slot, argv[0]))
        return JS_EXCEPTION;
    if (slot < 0 || slot >= (int)countof(children) || !children[slot].used)
        return JS_ThrowRangeError(ctx, "feed: no such child");
    struct child *c = &children[slot];
    if (!c->more_input)
        return JS_NewInt32(ctx, EINVAL);
    size_t len;
    const char *data = JS_ToCStringLen(ctx, &len, argv[1]);
    if (!data)
        return JS_EXCEPTION;
    int err = 0;
    char *grown = len > SIZE_MAX - c->input_len ? NULL : realloc(c->input, c->input_len + len + 1);
    if (!grown) {
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

/*
 * Reads what a child's pipe has now; closes it at EOF or on an error, which
 * ends the output too. Returns 0 or the errno of the error.
 */
/* Output kept of one stream of a child, as the Node platform's maxBuffer: a runaway child is an error, not the plugin's memory. */
#define CHILD_OUTPUT_MAX ((size_t)64 << 20)

static int drain(int *fd, struct buf *b)
{
    int err = read_into(*fd, b, CHILD_OUTPUT_MAX);
    if (err == EAGAIN)
        return 0;
    close_fd(fd);
    return err;
}

/*
 * Feeds c's stdin and reads its stdout and stderr until both end. Returns 0,
 * or the errno of the first failure, after which nothing more is read: the
 * output is incomplete and the caller must not take it for the child's.
 */
static int collect_output(struct child *c, struct buf *out, struct buf *errb, const char **call)
{
    while (c->out >= 0 || c->err >= 0) {
        struct pollfd p[3];
        int n = 0, err = 0;
        if (c->out >= 0)
            p[n++] = (struct pollfd){.fd = c->out, .events = POLLIN};
        if (c->err >= 0)
            p[n++] = (struct pollfd){.fd = c->err, .events = POLLIN};
        if (c->in >= 0)
            p[n++] = (struct pollfd){.fd = c->in, .events = POLLOUT};
        double left = c->deadline - now_ms();
        /* Past the deadline, what the child has already written (it may have ended in time) is still taken. */
        int ready = poll(p, n, left <= 0 ? 0 : left > 1e9 ? 1000000000 : (int)left + 1);
        if (ready < 0 && errno != EINTR) {
            *call = "poll";
            return errno;
        }
        if (ready == 0 && now_ms() >= c->deadline) {
            kill_child(c->pid);
            *call = "time limit";
            return ETIMEDOUT;
        }
        if (c->in >= 0)
            feed_input(c);
        if (c->out >= 0)
            err = drain(&c->out, out);
        if (!err && c->err >= 0)
            err = drain(&c->err, errb);
        if (err) {
            *call = "read";
            return err;
        }
    }
    return 0;
}

/*
 * wait(handle) -> [status, stdout, stderr, errno, call]. status is the exit
 * code, 128+signal for a killed child, or -1 when errno says the call that
 * failed: then the output is incomplete or the status unknown, never success.
 * Either way the pipes are closed and the child is reaped (or gone).
 */
static JSValue js_wait(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int slot;
    if (JS_ToInt32(ctx, &slot, argv[0]))
        return JS_EXCEPTION;
    if (slot < 0 || slot >= (int)countof(children) || !children[slot].used)
        return JS_ThrowRangeError(ctx, "wait: no such child");
    struct child *c = &children[slot];
    struct buf out = {0}, errb = {0};
    const char *call = "";
    /* Waiting for a child means its input is complete. */
    c->more_input = 0;
    feed_input(c);
    int err = collect_output(c, &out, &errb, &call);
    /* The pipes close before the wait: a child still writing gets EPIPE and ends; one still reading gets EOF. */
    int st = 0, werr = reap(c, &st);
    if (werr && !err) {
        err = werr;
        call = werr == ETIMEDOUT ? "time limit" : "waitpid";
    }
    int code = err ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    JSValue v[] = {
        JS_NewInt32(ctx, code),
        JS_NewStringLen(ctx, out.p ? out.p : "", out.len),
        JS_NewStringLen(ctx, errb.p ? errb.p : "", errb.len),
        JS_NewInt32(ctx, err),
        JS_NewString(ctx, call),
    };
    free(out.p);
    free(errb.p);
    return tuple(ctx, countof(v), v);
}

/* execv(path, argv) -> errno; on success it does not return. A bare name is looked up on PATH. */
static JSValue js_execv(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *path, **args = NULL;
    int r = c_string(ctx, argv[0], &path);
    if (!r)
        r = string_vector(ctx, argv[1], &args);
    if (!r && !args[0])
        r = EINVAL;
    if (!r) {
        /* The program gets SIGPIPE as it would from a shell, not our SIG_IGN. */
        signal(SIGPIPE, SIG_DFL);
        execvp(path, (char *const *)args);
        r = errno;
        signal(SIGPIPE, SIG_IGN);
    }
    JS_FreeCString(ctx, path);
    free_vector(ctx, args);
    return FAIL(ctx, r);
}

/*
 * linkInfo(name) -> [ifindex, flags, mac, [[family, address, prefixlen], ...]] | null (absent) | errno
 * Asked of the kernel over netlink from this thread's namespace, so unlike
 * sysfs (which shows the namespace it was mounted in) it is right wherever
 * the plugin runs, and it needs no process. One link is asked for by index
 * (RTM_GETLINK) and only its addresses are dumped (RTM_GETADDR, filtered by
 * the kernel where it can): getifaddrs(3) dumps every link of the namespace,
 * 0.6 ms on a node with 50 pods, twice per ADD.
 */

/* A reply that does not come within this is an error, not a plugin hung on a wedged kernel. */
#define NL_TIMEOUT_S 5

/*
 * Sends one request and hands each reply message to `each` until the dump
 * ends; 0 or an errno: ETIMEDOUT when the kernel does not answer in time,
 * EMSGSIZE when a reply did not fit the buffer (MSG_TRUNC: never parsed cut).
 */
static int nl_ask(int fd, void *req, size_t len, int (*each)(struct nlmsghdr *, void *), void *arg)
{
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        return errno;
    int dump = (((struct nlmsghdr *)req)->nlmsg_flags & NLM_F_DUMP) != 0;
    uint32_t seq = ((struct nlmsghdr *)req)->nlmsg_seq;
    /* A dump comes in parts of at most a page or two (NLMSG_GOODSIZE): 32 KiB holds any of them. */
    static char buf[32768];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        }
        if ((size_t)n > sizeof buf)
            return EMSGSIZE;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != seq)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                    return EBADMSG;
                int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
                if (e || !dump)
                    return e;
                continue;
            }
            int r = each(h, arg);
            if (r || !dump)
                return r;
        }
    }
}

#ifdef FLATNET_FAULTS
/* An attribute shorter than its type needs: what a malformed reply would hold. */
#define ATTR_LEN(rta) (fault("attrlen") ? 2 : RTA_PAYLOAD(rta))
#else
#define ATTR_LEN(rta) RTA_PAYLOAD(rta)
#endif

/* What netlink said of the link and its addresses, in C: JS values are made once it is all in. */
struct addr_info {
    int family, prefixlen;
    char text[INET6_ADDRSTRLEN];
};

struct link_reply {
    int found, ifindex;
    unsigned flags;
    char mac[3 * 32];
    struct addr_info *addrs;
    size_t n, cap;
};

static int on_link(struct nlmsghdr *h, void *arg)
{
    struct link_reply *lr = arg;
    if (h->nlmsg_type != RTM_NEWLINK)
        return 0;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
        return EBADMSG;
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    int len = IFLA_PAYLOAD(h);
    for (struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type != IFLA_ADDRESS)
            continue;
        const unsigned char *b = RTA_DATA(rta);
        size_t off = 0, n = RTA_PAYLOAD(rta);
        for (size_t i = 0; i < n && i < 32; i++)
            off += snprintf(lr->mac + off, sizeof(lr->mac) - off, i ? ":%02x" : "%02x", b[i]);
    }
    lr->found = 1;
    lr->ifindex = ifi->ifi_index;
    lr->flags = ifi->ifi_flags;
    return 0;
}

static int on_addr(struct nlmsghdr *h, void *arg)
{
    struct link_reply *lr = arg;
    if (h->nlmsg_type != RTM_NEWADDR)
        return 0;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
        return EBADMSG;
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    /* Kernels before 4.20 ignore the filter and send every link's: skip those. */
    if ((int)ifa->ifa_index != lr->ifindex || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
        return 0;
    size_t want = ifa->ifa_family == AF_INET ? 4 : 16;
    const void *local = NULL, *address = NULL;
    int len = IFA_PAYLOAD(h);
    for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type != IFA_LOCAL && rta->rta_type != IFA_ADDRESS)
            continue;
        /* inet_ntop reads 4 or 16 bytes: a shorter attribute is a malformed reply, not an address. */
        if (ATTR_LEN(rta) < want)
            return EBADMSG;
        if (rta->rta_type == IFA_LOCAL)
            local = RTA_DATA(rta);
        else
            address = RTA_DATA(rta);
    }
    /* As getifaddrs: the local address (IFA_ADDRESS is the peer's on point-to-point links). */
    const void *a = local ? local : address;
    if (!a)
        return 0;
    if (lr->n == lr->cap) {
        size_t cap = lr->cap ? lr->cap * 2 : 8;
        struct addr_info *p = realloc(lr->addrs, cap * sizeof *p);
        if (!p)
            return ENOMEM;
        lr->addrs = p;
        lr->cap = cap;
    }
    struct addr_info *one = &lr->addrs[lr->n];
    if (!inet_ntop(ifa->ifa_family, a, one->text, sizeof one->text))
        return errno;
    one->family = ifa->ifa_family == AF_INET ? 4 : 6;
    one->prefixlen = ifa->ifa_prefixlen;
    lr->n++;
    return 0;
}

static int sysfs_assign_type(const char *name, const struct link_reply *lr);

/* The JS value of a complete reply, or JS_EXCEPTION (every part checked, nothing half-made returned). */
static JSValue link_value(JSContext *ctx, const struct link_reply *lr, int assign_type)
{
    JSValue addrs = JS_NewArray(ctx);
    for (size_t i = 0; i < lr->n && !JS_IsException(addrs); i++) {
        const struct addr_info *a = &lr->addrs[i];
        JSValue one = tuple(ctx, 3, (JSValue[]){JS_NewInt32(ctx, a->family), JS_NewString(ctx, a->text), JS_NewInt32(ctx, a->prefixlen)});
        if (put(ctx, addrs, (uint32_t)i, one) < 0) {
            JS_FreeValue(ctx, addrs);
            addrs = JS_EXCEPTION;
        }
    }
    return tuple(ctx, 5, (JSValue[]){JS_NewInt32(ctx, lr->ifindex), JS_NewUint32(ctx, lr->flags), JS_NewString(ctx, lr->mac), addrs, JS_NewInt32(ctx, assign_type)});
}

static JSValue js_link_info(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *name;
    int r = c_string(ctx, argv[0], &name);
    if (r)
        return FAIL(ctx, r);
    int ifindex = (int)if_nametoindex(name);
    if (!ifindex) {
        int err = errno;
        JS_FreeCString(ctx, name);
        return err == ENODEV || err == ENXIO ? JS_NULL : JS_NewInt32(ctx, err);
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        int err = errno;
        JS_FreeCString(ctx, name);
        return JS_NewInt32(ctx, err);
    }
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one); /* absent before 4.20: then filtered here */
    struct timeval tv = {.tv_sec = NL_TIMEOUT_S};
    int err = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ? errno : 0;
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } lreq = { .nh = { .nlmsg_len = sizeof lreq, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 }, .ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex } };
    struct link_reply lr = { .ifindex = ifindex };
    if (!err)
        err = nl_ask(fd, &lreq, sizeof lreq, on_link, &lr);
    if (!err && lr.found) {
        struct {
            struct nlmsghdr nh;
            struct ifaddrmsg ifa;
        } areq = { .nh = { .nlmsg_len = sizeof areq, .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 2 }, .ifa = { .ifa_family = AF_UNSPEC, .ifa_index = (unsigned)ifindex } };
        err = nl_ask(fd, &areq, sizeof areq, on_addr, &lr);
    }
    close(fd);
    JSValue ret;
    if (err || !lr.found)
        /* Gone between the index and the question: absent, as before it. */
        ret = err == ENODEV || (!err && !lr.found) ? JS_NULL : JS_NewInt32(ctx, err);
    else
        ret = link_value(ctx, &lr, sysfs_assign_type(name, &lr));
    free(lr.addrs);
    JS_FreeCString(ctx, name);
    return ret;
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
static int sysfs_assign_type(const char *name, const struct link_reply *lr)
{
    char ifindex[32], mac[64], type[16];
    if (strchr(name, '/') || sysfs_attr(name, "ifindex", ifindex, sizeof(ifindex)) || sysfs_attr(name, "address", mac, sizeof(mac)) || sysfs_attr(name, "addr_assign_type", type, sizeof(type)))
        return -1;
    int same = atoi(ifindex) == lr->ifindex && strcmp(mac, lr->mac) == 0;
    return same ? atoi(type) : -1;
}


/* linkDriver(name) -> [driver, errno]: the kernel driver of a link ("bridge", "veth"), by ethtool. */
static JSValue js_link_driver(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *name;
    int err = c_string(ctx, argv[0], &name);
    if (err)
        return err < 0 ? JS_EXCEPTION : pair(ctx, JS_NULL, err);
    size_t len = strlen(name);
    struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
    struct ifreq ifr = {0};
    if (len == 0 || len >= IFNAMSIZ) {
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
 * readDirFiles(dir, maxBytes) -> [[name, content] | [name, null, errno], ...] | errno:
 * every regular file of a directory, read whole (each up to maxBytes). One
 * that cannot be read (EACCES, larger than maxBytes: EFBIG) comes with the
 * errno instead of its content: it still holds its name (an address in the
 * IPAM store), so the caller must be able to say so. Symlinks, and files
 * gone before they were opened, are left out. The IPAM store is one small
 * file per lease and every ADD reads them all (as Go host-local does): in C
 * that is a few microseconds a file.
 */
static JSValue js_read_dir_files(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int64_t max = 4096;
    if (argc > 1 && !JS_IsUndefined(argv[1]) && JS_ToInt64(ctx, &max, argv[1]))
        return JS_EXCEPTION;
    const char *path;
    int r = c_string(ctx, argv[0], &path);
    if (r)
        return FAIL(ctx, r);
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
    int err = 0, failed = JS_IsException(list);
    /* readdir returns NULL at the end and on an error alike: errno tells (a listing cut short is an error, not fewer leases). */
    while (!failed && (errno = 0, e = readdir(d))) {
        if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        /* O_NOFOLLOW: a symlink planted in the store is not a lease. */
        int fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        JSValue entry = JS_UNDEFINED;
        if (fd < 0) {
            int oerr = errno;
            if (oerr != ENOENT && oerr != ELOOP)
                entry = tuple(ctx, 3, (JSValue[]){JS_NewString(ctx, e->d_name), JS_NULL, JS_NewInt32(ctx, oerr)});
        } else {
            struct stat st;
            b.len = 0;
            if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
                int rerr = read_into(fd, &b, (size_t)max);
                entry = rerr ? tuple(ctx, 3, (JSValue[]){JS_NewString(ctx, e->d_name), JS_NULL, JS_NewInt32(ctx, rerr)})
                             : tuple(ctx, 2, (JSValue[]){JS_NewString(ctx, e->d_name), JS_NewStringLen(ctx, b.p ? b.p : "", b.len)});
            }
            close(fd);
        }
        if (!JS_IsUndefined(entry) && put(ctx, list, n++, entry) < 0)
            failed = 1;
    }
    if (!failed && errno != 0)
        err = errno;
    free(b.p);
    closedir(d);
    if (failed || err) {
        JS_FreeValue(ctx, list);
        return failed ? JS_EXCEPTION : JS_NewInt32(ctx, err);
    }
    return list;
}

/* now() -> milliseconds on the monotonic clock (QuickJS 2021 has no performance.now). */
static JSValue js_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return JS_NewFloat64(ctx, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

/*
 * SHA-512 (FIPS 180-4), for the masquerade chain and rule names the Go
 * plugins derive from it. In C rather than a JS library: a JS SHA-512 builds
 * its constant tables when it loads, which every plugin run paid for (a
 * sixth of start-up) though only masquerade needs a hash.
 */
static const uint64_t sha512_k[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL, 0x3956c25bf348b538ULL,
    0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL, 0xd807aa98a3030242ULL, 0x12835b0145706fbeULL,
    0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL, 0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL,
    0xc19bf174cf692694ULL, 0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL, 0x983e5152ee66dfabULL,
    0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL, 0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL,
    0x06ca6351e003826fULL, 0x142929670a0e6e70ULL, 0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL,
    0x53380d139d95b3dfULL, 0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL, 0xd192e819d6ef5218ULL,
    0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL, 0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL,
    0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL, 0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL,
    0x682e6ff3d6b2b8a3ULL, 0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL, 0xca273eceea26619cULL,
    0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL, 0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL,
    0x113f9804bef90daeULL, 0x1b710b35131c471bULL, 0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL,
    0x431d67c49c100d4cULL, 0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

#define ROTR64(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

static void sha512_block(uint64_t h[8], const unsigned char *p)
{
    uint64_t w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = 0;
        for (int j = 0; j < 8; j++)
            w[i] = (w[i] << 8) | p[8 * i + j];
    }
    for (int i = 16; i < 80; i++) {
        uint64_t s0 = ROTR64(w[i - 15], 1) ^ ROTR64(w[i - 15], 8) ^ (w[i - 15] >> 7);
        uint64_t s1 = ROTR64(w[i - 2], 19) ^ ROTR64(w[i - 2], 61) ^ (w[i - 2] >> 6);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint64_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 80; i++) {
        uint64_t t1 = hh + (ROTR64(e, 14) ^ ROTR64(e, 18) ^ ROTR64(e, 41)) + ((e & f) ^ (~e & g)) + sha512_k[i] + w[i];
        uint64_t t2 = (ROTR64(a, 28) ^ ROTR64(a, 34) ^ ROTR64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha512(const unsigned char *data, size_t len, unsigned char out[64])
{
    uint64_t h[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
                     0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
    size_t off = 0;
    for (; len - off >= 128; off += 128)
        sha512_block(h, data + off);
    /* The last block(s): the rest, 0x80, zeros, and the length in bits as a 128-bit big-endian number. */
    unsigned char tail[256] = {0};
    size_t rest = len - off;
    memcpy(tail, data + off, rest);
    tail[rest] = 0x80;
    size_t blocks = rest + 1 + 16 <= 128 ? 1 : 2;
    uint64_t bits = (uint64_t)len << 3;
    for (int i = 0; i < 8; i++)
        tail[128 * blocks - 1 - i] = (unsigned char)(bits >> (8 * i));
    tail[128 * blocks - 9] = (unsigned char)((uint64_t)len >> 61);
    for (size_t b = 0; b < blocks; b++)
        sha512_block(h, tail + 128 * b);
    for (int i = 0; i < 64; i++)
        out[i] = (unsigned char)(h[i / 8] >> (56 - 8 * (i % 8)));
}

/* sha512Hex(string) -> the SHA-512 of its UTF-8 bytes, in lower-case hex. */
static JSValue js_sha512_hex(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    size_t len;
    const char *s = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!s)
        return JS_EXCEPTION;
    unsigned char digest[64];
    char hex[129];
    sha512((const unsigned char *)s, len, digest);
    JS_FreeCString(ctx, s);
    for (int i = 0; i < 64; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return JS_NewStringLen(ctx, hex, 128);
}

static const JSCFunctionListEntry funcs[] = {
    JS_CFUNC_DEF("readFile", 2, js_read_file),
    JS_CFUNC_DEF("writeFile", 4, js_write_file),
    JS_CFUNC_DEF("writeFd", 2, js_write_fd),
    JS_CFUNC_DEF("open", 3, js_open),
    JS_CFUNC_DEF("fstat", 1, js_fstat),
    JS_PROP_INT32_DEF("O_NONBLOCK", O_NONBLOCK, JS_PROP_CONFIGURABLE),
    JS_PROP_INT32_DEF("O_NOCTTY", O_NOCTTY, JS_PROP_CONFIGURABLE),
    JS_CFUNC_DEF("link", 2, js_link),
    JS_CFUNC_DEF("unnamedFile", 3, js_unnamed_file),
    JS_CFUNC_DEF("linkFd", 2, js_link_fd),
    JS_CFUNC_DEF("flock", 2, js_flock),
    JS_CFUNC_DEF("setns", 2, js_setns),
    JS_CFUNC_DEF("statfsType", 1, js_statfs_type),
    JS_CFUNC_DEF("getpid", 0, js_getpid),
    JS_CFUNC_DEF("errnoName", 1, js_errno_name),
    JS_CFUNC_DEF("randomBytes", 1, js_random_bytes),
    JS_CFUNC_DEF("spawn", 4, js_spawn),
    JS_CFUNC_DEF("feed", 2, js_feed),
    JS_CFUNC_DEF("wait", 1, js_wait),
    JS_CFUNC_DEF("execv", 2, js_execv),
    JS_CFUNC_DEF("linkInfo", 1, js_link_info),
    JS_CFUNC_DEF("linkDriver", 1, js_link_driver),
    JS_CFUNC_DEF("readDirFiles", 2, js_read_dir_files),
    JS_CFUNC_DEF("now", 0, js_now),
    JS_CFUNC_DEF("sha512Hex", 1, js_sha512_hex),
#ifdef FLATNET_FAULTS
    JS_CFUNC_DEF("injectFault", 2, js_inject_fault),
#endif
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
    /*
     * A parent that ignores SIGCHLD (inherited across exec) would have the
     * kernel reap every child at once: waitpid then fails with ECHILD and no
     * exit status, so a failed `ip` could not be told from a good one.
     */
    signal(SIGCHLD, SIG_DFL);
    JSModuleDef *m = JS_NewCModule(ctx, name, init);
    if (m)
        JS_AddModuleExportList(ctx, m, funcs, countof(funcs));
    return m;
}
