/*
 * flatnet_sys: the system calls the CNI binaries need that QuickJS's own
 * std/os modules lack, with errno, so the TypeScript shims
 * (src/platform/quickjs) can report ENOENT/EEXIST/ENOSPC the way Node's fs
 * does. One file per concern: fs.c (files, directories, locks, namespaces),
 * spawn.c (child processes), netlink.c (a link and its addresses), sha512.c,
 * values.c (the C <-> JS conversions all of them use), faults.c (test builds
 * only) and module.c (the module's table).
 *
 * Every function returns errno values instead of throwing: the shims turn them
 * into Node-style errors with a `code`, which the shared code already handles.
 * A string with a NUL inside is EINVAL, never the C string cut short at it;
 * a failed allocation is ENOMEM, never a short result. Only a JS conversion
 * failure (QuickJS out of memory, a Symbol for a path) throws.
 */
#ifndef FLATNET_SYS_H
#define FLATNET_SYS_H
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

#include "faults.h"

struct buf {
    char *p;
    size_t len, cap;
};

int buf_reserve(struct buf *b, size_t more, size_t limit);
int read_into(int fd, struct buf *b, size_t max);
int put(JSContext *ctx, JSValueConst arr, uint32_t i, JSValue v);
JSValue tuple(JSContext *ctx, int n, JSValue *v);
JSValue pair(JSContext *ctx, JSValue v, int err);
int c_string(JSContext *ctx, JSValueConst v, const char **out);
void free_vector(JSContext *ctx, const char **v);
int string_vector(JSContext *ctx, JSValueConst arr, const char ***out);

/* The JS result of a call that failed with `r` from c_string/string_vector: an exception, or the errno. */
#define FAIL(ctx, r) ((r) < 0 ? JS_EXCEPTION : JS_NewInt32(ctx, r))

/* The module's functions, one file per concern (module.c lists them). */
#define JS_FN(name) JSValue name(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
JS_FN(js_errno_name);
JS_FN(js_execv);
JS_FN(js_feed);
JS_FN(js_flock);
JS_FN(js_fstat);
JS_FN(js_getpid);
JS_FN(js_inject_fault);
JS_FN(js_link);
JS_FN(js_link_driver);
JS_FN(js_link_fd);
JS_FN(js_link_info);
JS_FN(js_now);
JS_FN(js_open);
JS_FN(js_random_bytes);
JS_FN(js_read_dir_files);
JS_FN(js_read_file);
JS_FN(js_setns);
JS_FN(js_sha512_hex);
JS_FN(js_spawn);
JS_FN(js_statfs_type);
JS_FN(js_unnamed_file);
JS_FN(js_wait);
JS_FN(js_write_fd);
JS_FN(js_write_file);

#endif
