/* Files, directories, locks and namespaces: open (always O_CLOEXEC), whole-file read/write, link, flock, setns, statfs, a store directory read in one call. */
#include "flatnet_sys.h"

/* readFile(path | fd, maxBytes) -> [string | null, errno] */
JSValue js_read_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_write_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_write_fd(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_open(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_fstat(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd;
    if (JS_ToInt32(ctx, &fd, argv[0]))
        return JS_EXCEPTION;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return pair(ctx, JS_NULL, errno);
    return pair(ctx, tuple(ctx, 4, (JSValue[]){JS_NewFloat64(ctx, (double)st.st_dev), JS_NewFloat64(ctx, (double)st.st_ino), JS_NewInt32(ctx, (int32_t)st.st_mode), JS_NewFloat64(ctx, (double)st.st_size)}), 0);
}

JSValue js_link(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_unnamed_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_link_fd(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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

JSValue js_flock(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd, op;
    if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &op, argv[1]))
        return JS_EXCEPTION;
    int r;
    while ((r = flock(fd, op)) < 0 && errno == EINTR)
        ;
    return JS_NewInt32(ctx, r < 0 ? errno : 0);
}

JSValue js_setns(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int fd, type;
    if (JS_ToInt32(ctx, &fd, argv[0]) || JS_ToInt32(ctx, &type, argv[1]))
        return JS_EXCEPTION;
    return JS_NewInt32(ctx, setns(fd, type) < 0 ? errno : 0);
}

/* statfsType(path) -> [f_type, errno] */
JSValue js_statfs_type(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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

JSValue js_getpid(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    return JS_NewInt32(ctx, getpid());
}

JSValue js_errno_name(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    int e;
    if (JS_ToInt32(ctx, &e, argv[0]))
        return JS_EXCEPTION;
    const char *n = strerrorname_np(e);
    return JS_NewString(ctx, n ? n : "EUNKNOWN");
}

/* randomBytes(n) -> ArrayBuffer */
JSValue js_random_bytes(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
 * readDirFiles(dir, maxBytes) -> [[name, content] | [name, null, errno], ...] | errno:
 * every regular file of a directory, read whole (each up to maxBytes). One
 * that cannot be read (EACCES, larger than maxBytes: EFBIG) comes with the
 * errno instead of its content: it still holds its name (an address in the
 * IPAM store), so the caller must be able to say so. Symlinks, and files
 * gone before they were opened, are left out. The IPAM store is one small
 * file per lease and every ADD reads them all (as Go host-local does): in C
 * that is a few microseconds a file.
 */
JSValue js_read_dir_files(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return JS_NewFloat64(ctx, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}
