/*
 * Test builds only (scripts/build.mjs's buildQuickjs with -DFLATNET_FAULTS):
 * injectFault(name, skip) makes the call `name` fail once, after `skip`
 * calls that succeed, so the error paths run in the real build. The shipped
 * binaries are compiled without any of this. Included after the system
 * headers and quickjs.h, whose names the macros below replace.
 */
#ifndef FLATNET_FAULTS_H
#define FLATNET_FAULTS_H
#ifdef FLATNET_FAULTS
int fault(const char *name);

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
#endif
