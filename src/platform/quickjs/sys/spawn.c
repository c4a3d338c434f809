#include "flatnet_sys.h"

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
JSValue js_spawn(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_feed(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_wait(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
JSValue js_execv(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
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
