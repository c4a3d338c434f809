/* The flatnet_sys module: its table of functions, and the signal settings every child relies on. */
#include "flatnet_sys.h"

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
